"""The app's panes: one module per tab, each a widget that talks to the engine through workers."""
