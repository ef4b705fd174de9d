from opp_ci.cli import main

main()
