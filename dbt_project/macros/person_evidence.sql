{#- The person evidence of a caller (Storm) or a victim (Sentinel), named alike on both sides for
    int_asb_incidents_linked: its pseudonyms as join keys (macros/join_key.sql), and the postcode district as sent. -#}
{% macro person_evidence(person) -%}
    {%- for kind in ['surname', 'initial_surname', 'surname_sound', 'postcode_unit', 'address'] -%}
        {{ join_key(person ~ '_' ~ kind ~ '_pseudonym') }} as {{ kind }},
    {% endfor -%}
    {{ person }}_postcode_district as postcode_district
{%- endmacro %}
