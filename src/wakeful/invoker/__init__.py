"""Runs attempts behind one Invoker protocol: in-process now, remote deployments later."""
