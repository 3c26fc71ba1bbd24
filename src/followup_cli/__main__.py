from followup_cli.cli.main import main

main()
