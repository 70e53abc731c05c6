"""What the feeds and the board define: feed contracts, the partnership's reference data, the indicator catalogue,
the national geography, the night's schedule. Every stage imports it; it imports only `settings`."""
