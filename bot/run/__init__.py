"""Running the bot: the HTTP server or Socket Mode, a start that fails fast, a clean stop, health,
log setup."""
