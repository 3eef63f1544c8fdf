"""Pure rules of the broker: states and transitions, answers, tokens, money. No DB, no network."""
