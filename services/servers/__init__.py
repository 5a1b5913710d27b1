"""What each server chooses for itself with /setup: settings now; budgets and usage to come."""
