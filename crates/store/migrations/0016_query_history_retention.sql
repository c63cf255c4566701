-- Query history is kept for a limited time (`serve --query-history-days`): the oldest lines
-- go first, found by when they ended.
CREATE INDEX query_history_ended ON query_history (ended_at);
