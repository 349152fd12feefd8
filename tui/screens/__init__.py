"""The dashboard's screens: the run, the runs browser, help and confirmation."""
