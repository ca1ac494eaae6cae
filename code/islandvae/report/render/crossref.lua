-- Cross-references for the pip-only renderer: @fig-x, @tbl-x and @sec-x.
-- pandoc reads them as citations; Typst then wants a bibliography. Here they become native
-- references in Typst (which numbers figures, tables and sections itself) and, in HTML,
-- links with a number ("Figure 2") while captions get the same number.

local names = {fig = "Figure", tbl = "Table", sec = "Section"}

local function kind(id)
  local prefix = id:match("^(%a+)%-")
  return names[prefix] and prefix or nil
end

local function number_targets(doc)
  local numbers, counts = {}, {fig = 0, tbl = 0}
  doc:walk({
    Figure = function(el)
      if el.identifier:match("^fig%-") then counts.fig = counts.fig + 1; numbers[el.identifier] = counts.fig end
    end,
    Table = function(el)
      if el.identifier:match("^tbl%-") then counts.tbl = counts.tbl + 1; numbers[el.identifier] = counts.tbl end
    end,
    Header = function(el)
      if el.identifier:match("^sec%-") then numbers[el.identifier] = pandoc.utils.stringify(el.content) end
    end,
  })
  return numbers
end

local function prefix_caption(el, name, n)
  if FORMAT:match("typst") or not n then return el end
  local long = el.caption.long
  if #long > 0 and long[1].content then
    long[1].content:insert(1, pandoc.Str(name .. " " .. n .. ": "))
  end
  return el
end

-- Quarto's conditional content: .content-visible / .content-hidden with when-format="html" or "pdf".
local function conditional(el)
  local fmt = el.attributes["when-format"]
  if not fmt then return nil end
  local here = FORMAT:match("typst") and "pdf" or FORMAT
  local match = (fmt == here) or (fmt == "pdf" and FORMAT:match("typst"))
  if el.classes:includes("content-visible") and not match then return {} end
  if el.classes:includes("content-hidden") and match then return {} end
  return nil
end

function Pandoc(doc)
  local numbers = number_targets(doc)
  doc = doc:walk({ Div = conditional })
  return doc:walk({
    Figure = function(el) return prefix_caption(el, "Figure", numbers[el.identifier]) end,
    Table = function(el) return prefix_caption(el, "Table", numbers[el.identifier]) end,
    Cite = function(el)
      local out = pandoc.Inlines({})
      for i, c in ipairs(el.citations) do
        local k = kind(c.id)
        if not k then return nil end
        if i > 1 then out:insert(pandoc.Str(", ")) end
        if FORMAT:match("typst") then
          out:insert(pandoc.RawInline("typst", "@" .. c.id))
        else
          local label = numbers[c.id] and (names[k] .. " " .. numbers[c.id]) or ("?" .. c.id)
          out:insert(pandoc.Link(label, "#" .. c.id))
        end
      end
      return out
    end,
  })
end
