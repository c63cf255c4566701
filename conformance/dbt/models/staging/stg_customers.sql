select
    id as customer_id,
    initcap(name) as customer_name,
    signup_date,
    upper(tier) as tier
from {{ ref('raw_customers') }}
