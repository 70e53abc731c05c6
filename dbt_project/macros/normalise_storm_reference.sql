{#- The Storm incident number however a Sentinel case officer typed it: 'LP-20210601-0345', 'lp20210601/345',
    'Storm LP 20210601 0345', 'LP-2021-06-01-0345', '0345 (01/06/2021)', a letter O for a zero... -> 'LP-20210601-0345'.
    Null when no date and sequence can be read from it. -#}
{% macro normalise_storm_reference(column) -%}
    {%- set digits -%}
        regexp_replace(regexp_replace(upper({{ column }}), '(?<=[0-9])O|O(?=[0-9])', '0', 'g'), '[^0-9]', '', 'g')
    {%- endset -%}
    case
        when {{ column }} ~ '^\s*(\d{1,4})\s*\((\d{2})/(\d{2})/(\d{4})\)\s*$' then
            'LP-' || regexp_replace({{ column }}, '^\s*(\d{1,4})\s*\((\d{2})/(\d{2})/(\d{4})\)\s*$', '\4\3\2')
            || '-' || lpad(regexp_replace({{ column }}, '^\s*(\d{1,4}).*$', '\1'), 4, '0')
        when {{ digits }} ~ '^20\d{6}\d{1,4}$' then
            'LP-' || left({{ digits }}, 8) || '-' || lpad(substring({{ digits }} from 9), 4, '0')
    end
{%- endmacro %}
