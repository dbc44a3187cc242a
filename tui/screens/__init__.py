"""Modal screens: help and the small dialogs (quit, checkpoint path, confirm)."""
