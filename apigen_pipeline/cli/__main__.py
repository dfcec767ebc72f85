from apigen_pipeline.cli.main import main

raise SystemExit(main())
