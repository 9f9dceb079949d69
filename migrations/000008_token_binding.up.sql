-- An API token may be bound to one source and one cluster or host: the ingest API
-- (POST /api/v1/usage) then refuses any record of its that names another, so a
-- compromised machine can report only for itself. NULL is unbound. A binding is
-- for ingest tokens only, and names both or neither.
ALTER TABLE api_tokens
    ADD COLUMN bound_source  text,
    ADD COLUMN bound_cluster text,
    ADD CONSTRAINT api_tokens_binding_whole CHECK ((bound_source IS NULL) = (bound_cluster IS NULL)),
    ADD CONSTRAINT api_tokens_binding_ingest CHECK (bound_source IS NULL OR 'ingest' = ANY (scopes)),
    ADD CONSTRAINT api_tokens_binding_text CHECK (bound_source <> '' AND bound_cluster <> '');
