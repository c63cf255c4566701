{{ config(materialized='table') }}

with orders as (
    select * from {{ ref('stg_orders') }} where status <> 'cancelled'
)
select
    c.customer_id,
    c.customer_name,
    c.tier,
    count(o.order_id) as order_count,
    coalesce(sum(o.amount), 0) as revenue,
    min(o.ordered_at) as first_order_at,
    {{ dbt.datediff('c.signup_date', 'cast(min(o.ordered_at) as date)', 'day') }} as days_to_first_order,
    {{ dbt.hash(dbt.concat(['c.customer_id', "'-'", 'c.tier'])) }} as customer_key
from {{ ref('stg_customers') }} c
left join orders o on o.customer_id = c.customer_id
group by c.customer_id, c.customer_name, c.tier, c.signup_date
