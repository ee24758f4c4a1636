-- The seed's pg_cron schedules, created from the database pg_cron runs in (cron.database_name)
-- for jobs that run in database "temporal". Needs pg_cron 1.4+.
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT cron.schedule_in_database('create-partition', '0 0 1 * *', 'SELECT create_monthly_partition()', 'temporal');
SELECT cron.schedule_in_database('refresh-metrics', '0 * * * *', 'REFRESH MATERIALIZED VIEW CONCURRENTLY temporal_visibility.workflow_metrics', 'temporal');
SELECT cron.schedule_in_database('cleanup-executions', '0 3 * * *', 'SELECT cleanup_old_executions(90)', 'temporal');
