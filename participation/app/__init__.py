"""The service's parts, one per audience; ``participation.service`` composes them."""
