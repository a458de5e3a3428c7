"""Operations: metrics, structured logs with secret redaction, health endpoints, ``vro-bot check``."""
