"""`followup generate`: synthetic club-system exports for trying and measuring the tool."""
