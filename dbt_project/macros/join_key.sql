{#- A key that pairs are blocked, joined or compared on, as a 64-bit hash of itself: millions of candidate pairs
    are sorted and hashed on narrow integers rather than 64-character pseudonyms. Null stays null (no evidence). Two
    different values sharing a hash among a year's few hundred thousand is a chance of about 1 in 10^8. -#}
{% macro join_key(column) -%}
    hashtextextended({{ column }}, 0)
{%- endmacro %}
