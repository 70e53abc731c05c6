"""Who is told what: failures routed by configuration (expectations/alert_routes.yml) into one digest per role,
sent through an outbox so a mail server down tonight delays a digest, never loses it."""
