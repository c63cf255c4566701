{{ config(materialized='incremental', incremental_strategy='append') }}

select
    cast(ordered_at as date) as order_date,
    count(*) as orders,
    sum(amount) as amount
from {{ ref('stg_orders') }}
{% if is_incremental() %}
where cast(ordered_at as date) > (select max(order_date) from {{ this }})
{% endif %}
group by cast(ordered_at as date)
