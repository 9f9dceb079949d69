ALTER TABLE api_tokens
    DROP CONSTRAINT api_tokens_binding_text,
    DROP CONSTRAINT api_tokens_binding_ingest,
    DROP CONSTRAINT api_tokens_binding_whole,
    DROP COLUMN bound_cluster,
    DROP COLUMN bound_source;
