select
    id as order_id,
    customer_id,
    cast(ordered_at as timestamp) as ordered_at,
    cast(amount as decimal(10, 2)) as amount,
    lower(status) as status
from {{ source('shop', 'orders') }}
