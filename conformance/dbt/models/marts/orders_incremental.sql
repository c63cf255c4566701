{{ config(materialized='incremental', incremental_strategy='merge', unique_key='order_id') }}

select order_id, customer_id, ordered_at, amount, status, current_timestamp() as loaded_at
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where ordered_at >= (select coalesce(max(ordered_at), timestamp '1900-01-01') from {{ this }})
   or order_id in (select order_id from {{ this }} where status = 'pending')
{% endif %}
