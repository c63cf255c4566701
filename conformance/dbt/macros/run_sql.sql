{# `dbt run-operation run_sql --args '{sql: ...}'`: one statement as the connection's principal. #}
{% macro run_sql(sql) %}
  {% do run_query(sql) %}
{% endmacro %}
