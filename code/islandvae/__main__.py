from islandvae.cli import main

raise SystemExit(main())
