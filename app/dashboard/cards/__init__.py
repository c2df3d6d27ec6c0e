"""The dashboard's cards, one module per subject; every module here is loaded."""
