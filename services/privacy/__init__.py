"""Members' control of their data: consent, opt-out, forgetting, retention, encryption at rest."""
