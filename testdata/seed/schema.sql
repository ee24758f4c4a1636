-- The Temporal schema of the seed deployment's design document, made to load on
-- PostgreSQL 13-18. Each change from the document is marked "FIX:".
-- Loaded into database "temporal" by the demo and the advisor's tests.

CREATE SCHEMA IF NOT EXISTS temporal;

CREATE TABLE temporal.executions (
  shard_id INTEGER NOT NULL,
  namespace_id CHAR(64) NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id CHAR(64) NOT NULL,
  next_event_id BIGINT NOT NULL,
  last_write_version BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  state BYTEA NOT NULL,
  state_encoding VARCHAR(16) NOT NULL,
  db_record_version BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id)
);

CREATE TABLE temporal.history_tree (
  shard_id INTEGER NOT NULL,
  tree_id CHAR(64) NOT NULL,
  branch_id CHAR(64) NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, tree_id, branch_id)
);

CREATE TABLE temporal.current_executions (
  shard_id INTEGER NOT NULL,
  namespace_id CHAR(64) NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id CHAR(64) NOT NULL,
  create_request_id VARCHAR(64) NOT NULL,
  state INTEGER NOT NULL,
  status INTEGER NOT NULL,
  start_version BIGINT NOT NULL,
  last_write_version BIGINT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id)
);

CREATE TABLE temporal.tasks (
  range_hash BIGINT NOT NULL,
  task_queue_id BYTEA NOT NULL,
  task_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (range_hash, task_queue_id, task_id)
);

CREATE TABLE temporal.activity_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id CHAR(64) NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id CHAR(64) NOT NULL,
  schedule_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  last_heartbeat_updated_time TIMESTAMP NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, schedule_id)
);

CREATE TABLE temporal.timer_info_maps (
  shard_id INTEGER NOT NULL,
  namespace_id CHAR(64) NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  run_id CHAR(64) NOT NULL,
  timer_id VARCHAR(255) NOT NULL,
  data BYTEA NOT NULL,
  data_encoding VARCHAR(16) NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, timer_id)
);

-- FIX: the retention function below logs into this table, which the document never creates.
CREATE TABLE temporal.cleanup_log (
  id BIGSERIAL PRIMARY KEY,
  cleanup_date TIMESTAMP NOT NULL,
  table_name TEXT NOT NULL,
  deleted_rows INTEGER NOT NULL,
  retention_days INTEGER NOT NULL
);

CREATE TABLE temporal.schema_migrations (
  version VARCHAR(255) PRIMARY KEY,
  applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  checksum VARCHAR(64) NOT NULL,
  description TEXT
);

CREATE SCHEMA IF NOT EXISTS temporal_visibility;

CREATE TABLE temporal_visibility.executions (
  namespace_id CHAR(64) NOT NULL,
  run_id CHAR(64) NOT NULL,
  start_time TIMESTAMP NOT NULL,
  execution_time TIMESTAMP NOT NULL,
  workflow_id VARCHAR(255) NOT NULL,
  workflow_type_name VARCHAR(255) NOT NULL,
  status INTEGER NOT NULL,
  close_time TIMESTAMP,
  history_length BIGINT,
  memo BYTEA,
  encoding VARCHAR(16),
  task_queue VARCHAR(255),
  -- FIX: JSON has no GIN operator class; the GIN index below needs JSONB.
  search_attributes JSONB,
  PRIMARY KEY (namespace_id, run_id)
);

CREATE INDEX idx_executions_start_time ON temporal_visibility.executions(namespace_id, start_time DESC);
CREATE INDEX idx_executions_close_time ON temporal_visibility.executions(namespace_id, close_time DESC);
CREATE INDEX idx_executions_workflow_id ON temporal_visibility.executions(namespace_id, workflow_id);
CREATE INDEX idx_executions_workflow_type ON temporal_visibility.executions(namespace_id, workflow_type_name);
CREATE INDEX idx_executions_status ON temporal_visibility.executions(namespace_id, status);
CREATE INDEX idx_executions_task_queue ON temporal_visibility.executions(namespace_id, task_queue);
CREATE INDEX idx_executions_search_attributes ON temporal_visibility.executions USING GIN(search_attributes);

CREATE TABLE temporal_visibility.custom_search_attributes (
  namespace_id CHAR(64) NOT NULL,
  run_id CHAR(64) NOT NULL,
  search_attributes JSON NOT NULL,
  PRIMARY KEY (namespace_id, run_id)
);

-- Partitioning. FIX: a primary key of a partitioned table must include the partition key,
-- so the template copies defaults and constraints but not the (namespace_id, run_id) key,
-- and carries its own key with start_time.
CREATE TABLE temporal_visibility.executions_template (
  LIKE temporal_visibility.executions INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
  PRIMARY KEY (namespace_id, run_id, start_time)
) PARTITION BY RANGE (start_time);

CREATE TABLE temporal_visibility.executions_2024_01
  PARTITION OF temporal_visibility.executions_template
  FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
CREATE TABLE temporal_visibility.executions_2024_02
  PARTITION OF temporal_visibility.executions_template
  FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');

CREATE OR REPLACE FUNCTION create_monthly_partition() RETURNS void AS $$
DECLARE
  partition_date date;
  partition_name text;
  start_date text;
  end_date text;
BEGIN
  partition_date := date_trunc('month', CURRENT_DATE + interval '1 month');
  partition_name := 'executions_' || to_char(partition_date, 'YYYY_MM');
  start_date := partition_date::text;
  end_date := (partition_date + interval '1 month')::text;
  EXECUTE format('CREATE TABLE IF NOT EXISTS temporal_visibility.%I
    PARTITION OF temporal_visibility.executions_template
    FOR VALUES FROM (%L) TO (%L)',
    partition_name, start_date, end_date);
END;
$$ LANGUAGE plpgsql;

-- The create-partition job keeps the partitions current: a deployment running today has this
-- month's partition and next month's (the two of 2024 above are the document's examples).
DO $$
DECLARE m date := date_trunc('month', CURRENT_DATE);
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS temporal_visibility.%I
    PARTITION OF temporal_visibility.executions_template FOR VALUES FROM (%L) TO (%L)',
    'executions_' || to_char(m, 'YYYY_MM'), m, (m + interval '1 month')::date);
END $$;
SELECT create_monthly_partition();

-- The document's composite, partial and functional indexes (it builds them CONCURRENTLY on a
-- live table; on an empty one a plain build is the same). idx_executions_composite_status
-- and friends start with the columns of idx_executions_status and friends: the redundant
-- pairs the advisor must find.
CREATE INDEX idx_executions_composite_status
  ON temporal_visibility.executions(namespace_id, status, start_time DESC);
CREATE INDEX idx_executions_composite_type
  ON temporal_visibility.executions(namespace_id, workflow_type_name, start_time DESC);
CREATE INDEX idx_executions_composite_queue
  ON temporal_visibility.executions(namespace_id, task_queue, start_time DESC);
CREATE INDEX idx_executions_active
  ON temporal_visibility.executions(namespace_id, start_time DESC)
  WHERE status IN (1, 2);
CREATE INDEX idx_executions_duration
  ON temporal_visibility.executions(namespace_id, (close_time - start_time))
  WHERE close_time IS NOT NULL;

CREATE MATERIALIZED VIEW temporal_visibility.workflow_metrics AS
SELECT
  namespace_id,
  workflow_type_name,
  DATE(start_time) AS execution_date,
  COUNT(*) AS total_executions,
  COUNT(*) FILTER (WHERE status = 3) AS completed_executions,
  COUNT(*) FILTER (WHERE status = 4) AS failed_executions,
  COUNT(*) FILTER (WHERE status = 5) AS canceled_executions,
  AVG(EXTRACT(EPOCH FROM (close_time - start_time))) AS avg_duration_seconds,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (close_time - start_time))) AS median_duration_seconds,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM (close_time - start_time))) AS p95_duration_seconds
FROM temporal_visibility.executions
WHERE start_time >= CURRENT_DATE - INTERVAL '30 days'
GROUP BY namespace_id, workflow_type_name, DATE(start_time);

CREATE UNIQUE INDEX ON temporal_visibility.workflow_metrics(namespace_id, workflow_type_name, execution_date);

CREATE OR REPLACE FUNCTION cleanup_old_executions(retention_days INTEGER DEFAULT 90)
RETURNS INTEGER AS $$
DECLARE
  deleted_count INTEGER;
  cutoff_date TIMESTAMP;
BEGIN
  cutoff_date := CURRENT_TIMESTAMP - (retention_days || ' days')::INTERVAL;
  DELETE FROM temporal_visibility.executions
  WHERE close_time < cutoff_date
    AND status IN (3, 4, 5, 6, 7, 8);
  GET DIAGNOSTICS deleted_count = ROW_COUNT;
  INSERT INTO temporal.cleanup_log (cleanup_date, table_name, deleted_rows, retention_days)
  VALUES (CURRENT_TIMESTAMP, 'executions', deleted_count, retention_days);
  RETURN deleted_count;
END;
$$ LANGUAGE plpgsql;

-- Not loaded from the document:
-- * migrate_add_search_attribute(): CREATE INDEX CONCURRENTLY cannot run inside a function.
-- * CREATE PUBLICATION ... FOR ALL TABLES IN SCHEMA: the syntax is FOR TABLES IN SCHEMA
--   (PostgreSQL 15+), and it needs wal_level = logical.
-- * cron.schedule(...): pg_cron lives in the database named by cron.database_name; the
--   schedules are created there with cron.schedule_in_database (see cron.sql).
