{{ config(materialized='view') }}
{#- The checks each file passed at the file gate and each publishing run passed at the consistency gate: names,
    severities and outcomes (a view on the audit record). Messages and details stay in audit: an example value
    could quote a partner's row. -#}
select check_result_id, run_id, gate, feed, file_id as load_id, check_name, severity, success, alert_role,
       checked_at
from {{ source('audit', 'check_results') }}
