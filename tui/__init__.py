"""rnnplay's user interfaces: the headless CLI and the Textual app over ``engine``."""
