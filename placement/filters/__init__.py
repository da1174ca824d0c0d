"""Filter plug-ins: each answers, for every host at once, whether the VM may go there."""
