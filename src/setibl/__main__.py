from setibl.cli import main

main()
