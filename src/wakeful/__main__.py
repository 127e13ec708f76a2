"""`python -m wakeful`: the `wakeful` command."""

from wakeful.cli import main

if __name__ == "__main__":
    main(prog_name="wakeful")
