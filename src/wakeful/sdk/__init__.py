"""The restate-sdk compatible user-facing API of wakeful."""
