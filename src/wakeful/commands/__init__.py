"""The `wakeful` command's parts: configuration of `serve`, and the operator commands."""
