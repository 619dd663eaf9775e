"""From what a person asked to an admitted job: the option grammar, intake (channel rules,
estimate, budgets), conversations (replies, mentions, DMs), the card's buttons and the Edit
dialog."""
