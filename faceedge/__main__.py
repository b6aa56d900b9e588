from faceedge.cli import main

main()
