#!/usr/bin/env python3
"""Generates keel's C++ codec from the schema files in protocol/schemas/.

  generate.py SCHEMA_DIR OUT_DIR            write the codec (headers, sources, tests)
  generate.py SCHEMA_DIR OUT_DIR --list     print the files it would write, one per line
  --overlay DIR (repeatable)                schema folders read after SCHEMA_DIR: a file in
                                            one replaces SCHEMA_DIR's file of the same name,
                                            its errors.tsv rows add to (or replace) the base's

Output, under OUT_DIR:
  include/keel/protocol/messages/<group>.h   one struct per message (request and response
                                             of an API share a header)
  include/keel/protocol/{api_keys,error_codes}.h
  src/<group>.cpp, src/api_keys.cpp, src/error_codes.cpp, src/message_dispatch.cpp
  tests/roundtrip_<n>.cpp                    value fillers and round-trip tests

Python 3 standard library only. The generated code depends only on keel/protocol/wire.h.
"""
import json
import os
import re
import sys

CPP_KEYWORDS = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char",
    "class", "concept", "const", "constexpr", "continue", "default", "delete", "do", "double",
    "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
    "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "nullptr",
    "operator", "or", "private", "protected", "public", "register", "requires", "return",
    "short", "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw",
    "true", "try", "typedef", "typename", "union", "unsigned", "using", "virtual", "void",
    "volatile", "while", "xor",
}
TEST_BUCKETS = 8
NS = "::keel::protocol::"

# type -> (C++ type, fixed size, reader method, writer method)
FIXED = {
    "bool": ("bool", 1, "read_bool", "write_bool"),
    "int8": ("std::int8_t", 1, "read_int8", "write_int8"),
    "int16": ("std::int16_t", 2, "read_int16", "write_int16"),
    "uint16": ("std::uint16_t", 2, "read_uint16", "write_uint16"),
    "int32": ("std::int32_t", 4, "read_int32", "write_int32"),
    "uint32": ("std::uint32_t", 4, "read_uint32", "write_uint32"),
    "int64": ("std::int64_t", 8, "read_int64", "write_int64"),
    "float64": ("double", 8, "read_float64", "write_float64"),
    "uuid": (NS + "Uuid", 16, "read_uuid", "write_uuid"),
}
VARIABLE = {"string": "std::string", "bytes": NS + "Bytes", "records": NS + "Records"}


def snake(name):
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return s + "_" if s in CPP_KEYWORDS else s


class Versions:
    """A version range: lo..hi inclusive, hi None for open-ended, or empty."""

    def __init__(self, lo, hi, empty=False):
        self.lo, self.hi, self.empty = lo, hi, empty

    @staticmethod
    def parse(text):
        text = str(text).strip()
        if text == "none":
            return Versions(0, 0, empty=True)
        if text.endswith("+"):
            return Versions(int(text[:-1]), None)
        if "-" in text:
            lo, hi = text.split("-")
            return Versions(int(lo), int(hi))
        return Versions(int(text), int(text))

    def contains(self, v):
        return not self.empty and v >= self.lo and (self.hi is None or v <= self.hi)

    def intersect(self, other):
        if self.empty or other.empty:
            return Versions(0, 0, empty=True)
        lo = max(self.lo, other.lo)
        his = [h for h in (self.hi, other.hi) if h is not None]
        hi = min(his) if his else None
        if hi is not None and lo > hi:
            return Versions(0, 0, empty=True)
        return Versions(lo, hi)

    def covers(self, other):
        """True if every version of `other` is in self."""
        if other.empty:
            return True
        if self.empty:
            return False
        if other.lo < self.lo:
            return False
        if self.hi is None:
            return True
        return other.hi is not None and other.hi <= self.hi

    def cond(self, valid):
        """A C++ condition on `version`, simplified for the message's valid versions."""
        v = self.intersect(valid)
        if v.empty:
            return "false"
        parts = []
        if v.lo > valid.lo:
            parts.append(f"msg_version >= {v.lo}")
        if v.hi is not None and (valid.hi is None or v.hi < valid.hi):
            parts.append(f"msg_version <= {v.hi}")
        return " && ".join(parts) if parts else "true"


class Field:
    def __init__(self, spec, valid):
        self.name = spec["name"]
        self.cname = snake(self.name)
        self.type = spec["type"]
        self.is_array = self.type.startswith("[]")
        self.elem = self.type[2:] if self.is_array else self.type
        self.versions = Versions.parse(spec["versions"]).intersect(valid)
        self.nullable = Versions.parse(spec.get("nullableVersions", "none")).intersect(self.versions)
        self.tagged = Versions.parse(spec.get("taggedVersions", "none")).intersect(self.versions)
        self.tag = int(spec["tag"]) if "tag" in spec else None
        self.default = spec.get("default")
        # Kafka spells a null default "null" (and once as a JSON null).
        self.default_null = "default" in spec and (
            self.default is None or str(self.default).lower() in ("null", "none"))
        self.ignorable = bool(spec.get("ignorable", False))
        self.flex_override = (Versions.parse(spec["flexibleVersions"])
                              if "flexibleVersions" in spec else None)
        self.struct = None  # resolved Struct for struct-typed elements
        self.is_nullable_type = not self.nullable.empty
        self.inline = Versions(self.versions.lo, self.versions.hi, self.versions.empty)
        if not self.tagged.empty:
            # In this schema set a tagged field is tagged in all of its versions.
            self.inline = Versions(0, 0, empty=True)

    @property
    def is_struct(self):
        return self.struct is not None

    @property
    def is_fixed(self):
        return self.elem in FIXED


class Struct:
    def __init__(self, name, fields, qualified):
        self.name, self.fields, self.qualified = name, fields, qualified


class Message:
    def __init__(self, spec, group):
        self.name = spec["name"]
        self.kind = spec["type"]
        self.api_key = spec.get("apiKey")
        self.listeners = spec.get("listeners", [])
        self.group = group
        self.valid = Versions.parse(spec["validVersions"])
        self.flexible = Versions.parse(spec["flexibleVersions"])
        self.structs = []  # nested structs, dependencies first
        by_name = {}
        pending = []  # (Field, spec) whose element type is a struct

        def make_fields(specs):
            fields = []
            for fs in specs:
                f = Field(fs, self.valid)
                fields.append(f)
                if "fields" in fs:
                    by_name[f.elem] = Struct(f.elem, make_fields(fs["fields"]),
                                             f"{self.name}::{f.elem}")
                    pending.append(f)
                elif f.elem not in FIXED and f.elem not in VARIABLE:
                    pending.append(f)
            return fields

        for cs in spec.get("commonStructs", []):
            by_name[cs["name"]] = Struct(cs["name"], make_fields(cs["fields"]),
                                         f"{self.name}::{cs['name']}")
        self.root = Struct(self.name, make_fields(spec["fields"]), self.name)
        for f in pending:
            if f.elem not in by_name:
                raise SystemExit(f"{self.name}: unknown type {f.type} of field {f.name}")
            f.struct = by_name[f.elem]
        seen = set()

        def visit(st):
            if st.name in seen:
                return
            seen.add(st.name)
            for f in st.fields:
                if f.is_struct:
                    visit(f.struct)
            self.structs.append(st)

        for f in self.root.fields:
            if f.is_struct:
                visit(f.struct)
        for st in list(by_name.values()):  # common structs nobody references still get emitted
            visit(st)

    def flex_cond(self):
        return self.flexible.cond(self.valid)


# ---- C++ types and defaults ---------------------------------------------------------------

def elem_cpp(f):
    if f.is_struct:
        return f.struct.name
    if f.elem in FIXED:
        return FIXED[f.elem][0]
    return VARIABLE[f.elem]


def field_cpp(f):
    t = f"std::vector<{elem_cpp(f)}>" if f.is_array else elem_cpp(f)
    return f"std::optional<{t}>" if f.is_nullable_type else t


def default_is_null(f):
    if f.default_null:
        return True
    # Kafka's records fields default to null.
    return f.elem == "records" and not f.is_array and f.is_nullable_type


def int_literal(f):
    if f.default is None or str(f.default) == "":
        return "0"
    v = int(str(f.default), 0)
    if f.elem == "int32" and v == -(2 ** 31):
        return "(-2147483647 - 1)"
    if f.elem == "int64":
        return f"{v}LL" if abs(v) > 2 ** 31 else str(v)
    return str(v)


def scalar_default(f):
    """The default of a fixed-size scalar as a C++ expression."""
    if f.elem == "bool":
        return "true" if str(f.default).lower() == "true" else "false"
    if f.elem == "float64":
        return repr(float(f.default)) if f.default is not None else "0.0"
    if f.elem == "uuid":
        return NS + "Uuid{}"
    return int_literal(f)


def string_default(f):
    return json.dumps(str(f.default)) if f.default is not None else '""'


def member_init(f):
    """The member's initializer (empty for value-initialised defaults)."""
    if f.is_array:
        return "" if (default_is_null(f) or not f.is_nullable_type) else "{std::in_place}"
    if f.is_struct:
        return "" if (default_is_null(f) or not f.is_nullable_type) else "{std::in_place}"
    if f.is_fixed:
        d = scalar_default(f)
        return "" if f.elem == "uuid" else f"= {d}"
    if f.elem == "string":
        if f.is_nullable_type:
            return "" if default_is_null(f) else f"= std::string({string_default(f)})"
        return "" if string_default(f) == '""' else f"= {string_default(f)}"
    # bytes, records
    if f.is_nullable_type and not default_is_null(f):
        return "{std::in_place}"
    return ""


def non_default(f, x):
    """A C++ expression that is true when x differs from the field's default."""
    if f.is_fixed and not f.is_array:
        if f.elem == "uuid":
            return f"!{x}.is_zero()"
        return f"{x} != {scalar_default(f)}"
    if f.is_nullable_type and default_is_null(f):
        return f"{x}.has_value()"
    if f.is_struct and not f.is_array:
        inner = f"*{x}" if f.is_nullable_type else x
        prefix = f"!{x} || " if f.is_nullable_type else ""
        return f"{prefix}{inner} != {f.struct.name}{{}}"
    v = f"{x}->" if f.is_nullable_type else f"{x}."
    prefix = f"!{x} || " if f.is_nullable_type else ""
    if f.elem == "string" and not f.is_array:
        return f"{prefix}{v}compare({string_default(f)}) != 0"
    if f.elem == "records" and not f.is_array:
        return f"{prefix}{v}size() != 0"
    return f"{prefix}!{v}empty()"


# ---- code emission ------------------------------------------------------------------------

class Out:
    def __init__(self):
        self.lines = []
        self.level = 0

    def __call__(self, text=""):
        for line in text.split("\n"):
            self.lines.append(("  " * self.level + line) if line else "")

    def open(self, text):
        self(text)
        self.level += 1

    def close(self, text="}"):
        self.level -= 1
        self(text)

    def text(self):
        return "\n".join(self.lines) + "\n"


def flex_expr(f, m):
    if f.flex_override is not None:
        return f.flex_override.intersect(m.flexible).cond(m.valid)
    return "flexible"


def null_cond(f, m):
    if not f.is_nullable_type:
        return "false"
    return "true" if f.nullable.covers(f.versions) else f.nullable.cond(m.valid)


def emit_read_value(o, f, m, target, reader, elem=False):
    """Reads one value (an array element when elem) into target."""
    flex = flex_expr(f, m)
    nullable_here = f.is_nullable_type and not elem
    if f.is_struct:
        if nullable_here:
            o.open(f"if ({reader}.read_struct_present({null_cond(f, m)}) && {reader}.ok()) {{")
            # Assigning a value rather than emplace(): clang 14 mis-evaluates the
            # default-constructible trait of nested structs with member initializers.
            o(f"{target} = {f.struct.name}{{}};")
            o(f"KEEL_TRY({target}->decode({reader}, msg_version));")
            o.close("} else {")
            o.level += 1
            o(f"{target}.reset();")
            o.close()
        else:
            if reader != "r" and not elem:  # a repeated tagged struct: the last one wins
                o(f"{target} = {f.struct.qualified}{{}};")
            o(f"KEEL_TRY({target}.decode({reader}, msg_version));")
    elif f.is_fixed:
        o(f"{target} = {reader}.{FIXED[f.elem][2]}();")
    else:
        method = {"string": "read_string", "bytes": "read_bytes", "records": "read_records"}[f.elem]
        if nullable_here:
            o(f"{reader}.{method}({target}, {flex}, {null_cond(f, m)});")
        else:
            o(f"{reader}.{method}({target}, {flex});")


def emit_read_field(o, f, m, st, reader):
    x = f.cname
    where = f'"{st.qualified}.{f.name}"'
    if not f.is_array:
        emit_read_value(o, f, m, x, reader)
        o(f"if (!{reader}.ok()) [[unlikely]] return {reader}.error_at({where}, msg_version);")
        return
    o.open("{")
    o(f"const std::int32_t n = {reader}.read_array_length({flex_expr(f, m)}, {null_cond(f, m)});")
    o(f"if (!{reader}.ok()) [[unlikely]] return {reader}.error_at({where}, msg_version);")
    if f.is_nullable_type:
        o.open("if (n < 0) {")
        o(f"{x}.reset();")
        o.close("} else {")
        o.level += 1
        o(f"auto& items = {x}.emplace();")
    else:
        o(f"auto& items = {x};")
    o("items.clear();  // a repeated tagged field replaces the earlier one")
    o("items.reserve(std::min<std::size_t>(static_cast<std::size_t>(n), 1024));")
    o.open(f"for (std::int32_t i = 0; i < n && {reader}.ok(); ++i) {{")
    emit_read_value(o, f, m, "items.emplace_back()", reader, elem=True)
    o.close()
    o(f"if (!{reader}.ok()) [[unlikely]] return {reader}.error_at({where}, msg_version);")
    if f.is_nullable_type:
        o.close()
    o.close()


def emit_write_value(o, f, m, x, elem=False):
    flex = flex_expr(f, m)
    nullable_here = f.is_nullable_type and not elem
    if f.is_struct:
        if nullable_here:
            o(f"w.write_struct_present({x}.has_value());")
            o(f"if ({x}) KEEL_TRY({x}->encode(w, msg_version));")
        else:
            o(f"KEEL_TRY({x}.encode(w, msg_version));")
    elif f.is_fixed:
        o(f"w.{FIXED[f.elem][3]}({x});")
    else:
        method = {"string": "write_string", "bytes": "write_bytes", "records": "write_records"}[f.elem]
        o(f"w.{method}({x}, {flex});")


def emit_null_check(o, f, m, st):
    """Null is only legal in nullable versions; elsewhere encoding fails, as in Kafka."""
    if not f.is_nullable_type or f.nullable.covers(f.versions):
        return
    o(f"if (!{f.cname} && !({null_cond(f, m)})) [[unlikely]]")
    o(f'  return Fail{{Error{{"cannot encode {st.qualified}.{f.name}: null at version " + '
      f'std::to_string(msg_version)}}}};')


def emit_write_field(o, f, m, st):
    x = f.cname
    emit_null_check(o, f, m, st)
    if not f.is_array:
        emit_write_value(o, f, m, x)
        return
    flex = flex_expr(f, m)
    items = f"(*{x})" if f.is_nullable_type else x
    if f.is_nullable_type:
        o.open(f"if (!{x}) {{")
        o(f"w.write_array_length(-1, {flex});")
        o.close("} else {")
        o.level += 1
    o(f"w.write_array_length(static_cast<std::int32_t>({items}.size()), {flex});")
    o.open(f"for (const auto& item : {items}) {{")
    emit_write_value(o, f, m, "item", elem=True)
    o.close()
    if f.is_nullable_type:
        o.close()


def value_size(f, m, x, elem=False):
    flex = flex_expr(f, m)
    nullable_here = f.is_nullable_type and not elem
    if f.is_struct:
        if nullable_here:
            return f"1 + ({x} ? {x}->encoded_size(msg_version) : 0)"
        return f"{x}.encoded_size(msg_version)"
    if f.is_fixed:
        return str(FIXED[f.elem][1])
    if f.elem == "string":
        return f"wire_size::string({x}, {flex})"
    if f.elem == "bytes":
        if nullable_here:
            return f"wire_size::bytes({x}, {flex})"
        return f"wire_size::bytes({x}.size(), {flex})"
    return f"wire_size::records({x}, {flex})"


def emit_size_field(o, f, m, acc):
    x = f.cname
    if not f.is_array:
        o(f"{acc} += {value_size(f, m, x)};")
        return
    flex = flex_expr(f, m)
    items = f"(*{x})" if f.is_nullable_type else x
    if f.is_nullable_type:
        o.open(f"if (!{x}) {{")
        o(f"{acc} += wire_size::array_length(-1, {flex});")
        o.close("} else {")
        o.level += 1
    o(f"{acc} += wire_size::array_length(static_cast<std::int32_t>({items}.size()), {flex});")
    if f.is_fixed:
        o(f"{acc} += {items}.size() * {FIXED[f.elem][1]};")
    else:
        o(f"for (const auto& item : {items}) {acc} += {value_size(f, m, 'item', elem=True)};")
    if f.is_nullable_type:
        o.close()


def tagged_fields(st):
    return sorted((f for f in st.fields if not f.tagged.empty), key=lambda f: f.tag)


def emit_decode(o, st, m, top):
    o.open(f"Status {st.qualified}::decode(Reader& r, [[maybe_unused]] std::int16_t msg_version) {{")
    if top:
        emit_version_check(o, m)
        # A message may be decoded into again; nested structs are always decoded into fresh
        # (default) elements, so only the top level resets.
        o(f"*this = {st.name}{{}};")
    o(f"[[maybe_unused]] const bool flexible = {m.flex_cond()};")
    for f in st.fields:
        if f.inline.empty:
            continue
        cond = f.inline.cond(m.valid)
        if cond == "true":
            emit_read_field(o, f, m, st, "r")
        else:
            o.open(f"if ({cond}) {{")
            emit_read_field(o, f, m, st, "r")
            o.close()
    if not m.flexible.empty:
        o.open("if (flexible) {")
        o("const std::uint32_t tag_count = r.read_uvarint();")
        o.open("for (std::uint32_t t = 0; t < tag_count && r.ok(); ++t) {")
        o("const std::uint32_t tag = r.read_uvarint();")
        o("const ByteView data = r.read_view(r.read_uvarint());")
        o("if (!r.ok()) break;")
        o.open("switch (tag) {")
        for f in tagged_fields(st):
            o.open(f"case {f.tag}:")
            o.open(f"if ({f.tagged.cond(m.valid)}) {{")
            o("Reader tr(data);")
            emit_read_field(o, f, m, st, "tr")
            o("break;")
            o.close()
            o("[[fallthrough]];")
            o.level -= 1
        o.open("default:")
        o("unknown_tagged_fields.push_back({tag, Bytes(data.begin(), data.end())});")
        o.level -= 1
        o.close("}")
        o.close()
        o(f'if (!r.ok()) [[unlikely]] return r.error_at("{st.qualified} (tagged fields)", msg_version);')
        o.close()
    o("return {};")
    o.close()


def emit_version_check(o, m):
    o.open("if (msg_version < lowest_version || msg_version > highest_version) [[unlikely]] {")
    o(f'return Fail{{Error{{"{m.name}: unsupported version " + std::to_string(msg_version)}}}};')
    o.close()


def emit_absent_check(o, f, st):
    """A non-default value in a version without the field is an error unless ignorable."""
    if f.ignorable:
        return
    o(f"if ({non_default(f, f.cname)}) [[unlikely]]")
    o(f'  return Fail{{Error{{"cannot encode {st.qualified}.{f.name}: '
      f'non-default value at version " + std::to_string(msg_version)}}}};')


def emit_encode(o, st, m, top):
    o.open(f"Status {st.qualified}::encode(Writer& w, [[maybe_unused]] std::int16_t msg_version) const {{")
    if top:
        emit_version_check(o, m)
    o(f"[[maybe_unused]] const bool flexible = {m.flex_cond()};")
    for f in st.fields:
        if f.versions.empty:
            emit_absent_check(o, f, st)
            continue
        if f.inline.empty:
            continue
        cond = f.versions.cond(m.valid)
        if cond == "true":
            emit_write_field(o, f, m, st)
        else:
            o.open(f"if ({cond}) {{")
            emit_write_field(o, f, m, st)
            if f.ignorable:
                o.close()
            else:
                o.close("} else {")
                o.level += 1
                emit_absent_check(o, f, st)
                o.close()
    if not m.flexible.empty:
        tagged = tagged_fields(st)
        o.open("if (flexible) {")
        o("auto tag_count = static_cast<std::uint32_t>(unknown_tagged_fields.size());")
        for f in tagged:
            o(f"const bool has_{f.cname} = ({f.tagged.cond(m.valid)}) && ({non_default(f, f.cname)});")
            o(f"tag_count += has_{f.cname} ? 1 : 0;")
        o("w.write_uvarint(tag_count);")
        o("std::size_t next_unknown = 0;")
        for f in tagged:
            o.open(f"if (has_{f.cname}) {{")
            o(f"w.write_unknown_tags_below(unknown_tagged_fields, next_unknown, {f.tag});")
            o(f"w.write_uvarint({f.tag});")
            o("std::size_t field_size = 0;")
            emit_size_field(o, f, m, "field_size")
            o("w.write_uvarint(static_cast<std::uint32_t>(field_size));")
            emit_write_field(o, f, m, st)
            o.close()
        o("w.write_unknown_tags_below(unknown_tagged_fields, next_unknown, UINT64_MAX);")
        o.close()
        for f in tagged:
            if f.tagged.cond(m.valid) != "true":
                o.open(f"if (!({f.tagged.cond(m.valid)})) {{")
                emit_absent_check(o, f, st)
                o.close()
    o("return {};")
    o.close()


def emit_size(o, st, m):
    o.open(f"std::size_t {st.qualified}::encoded_size([[maybe_unused]] std::int16_t msg_version) const {{")
    o(f"[[maybe_unused]] const bool flexible = {m.flex_cond()};")
    o("std::size_t n = 0;")
    for f in st.fields:
        if f.inline.empty:
            continue
        cond = f.inline.cond(m.valid)
        if cond == "true":
            emit_size_field(o, f, m, "n")
        else:
            o.open(f"if ({cond}) {{")
            emit_size_field(o, f, m, "n")
            o.close()
    if not m.flexible.empty:
        o.open("if (flexible) {")
        o("auto tag_count = static_cast<std::uint32_t>(unknown_tagged_fields.size());")
        o("std::size_t tagged = wire_size::unknown_tags(unknown_tagged_fields);")
        for f in tagged_fields(st):
            o.open(f"if (({f.tagged.cond(m.valid)}) && ({non_default(f, f.cname)})) {{")
            o("std::size_t field_size = 0;")
            emit_size_field(o, f, m, "field_size")
            o(f"tagged += wire_size::uvarint({f.tag}) + "
              f"wire_size::uvarint(static_cast<std::uint32_t>(field_size)) + field_size;")
            o("++tag_count;")
            o.close()
        o("n += wire_size::uvarint(tag_count) + tagged;")
        o.close()
    o("return n;")
    o.close()


def emit_struct_decl(o, st, m, top):
    o.open(f"struct {st.name} {{")
    if top:
        o(f'static constexpr std::string_view message_name = "{m.name}";')
        if m.kind in ("request", "response"):
            o(f"static constexpr ApiKey api_key = ApiKey::{snake(api_base(m.name))};")
        if m.kind == "metadata":
            o(f"static constexpr std::int16_t record_type = {m.api_key};")
        o(f"static constexpr std::int16_t lowest_version = {m.valid.lo};")
        o(f"static constexpr std::int16_t highest_version = {m.valid.hi};")
        o(f"static constexpr std::int16_t first_flexible_version = "
          f"{-1 if m.flexible.empty else m.flexible.lo};")
        o()
        for nested in m.structs:
            emit_struct_decl(o, nested, m, False)
            o()
    for f in st.fields:
        init = member_init(f)
        o(f"{field_cpp(f)} {f.cname}{(' ' + init) if init else ''};")
    o("UnknownTaggedFields unknown_tagged_fields;")
    o()
    o("[[nodiscard]] Status encode(Writer& w, std::int16_t version) const;")
    o("[[nodiscard]] Status decode(Reader& r, std::int16_t version);")
    o("std::size_t encoded_size(std::int16_t version) const;")
    o(f"bool operator==(const {st.name}&) const = default;")
    o.close("};")


def api_base(name):
    return re.sub(r"(Request|Response)$", "", name)


# ---- files --------------------------------------------------------------------------------

def group_of(m):
    if m.group == "metadata":
        return "metadata_records"
    if m.group == "coordinator":
        return "coordinator_records"
    if m.kind == "header":
        return "headers"
    return snake(api_base(m.name)).rstrip("_")


BANNER = "// Generated by protocol/generator/generate.py from protocol/schemas. Do not edit.\n"


def header_text(msgs):
    o = Out()
    o(BANNER + "#pragma once\n")
    o("#include <cstdint>\n#include <optional>\n#include <string>\n#include <string_view>\n"
      "#include <vector>\n")
    o("#include <keel/protocol/api_keys.h>\n#include <keel/protocol/wire.h>\n")
    o("namespace keel::protocol {\n")
    for m in msgs:
        kind = {"request": f"request of API {m.api_key}", "response": f"response of API {m.api_key}",
                "metadata": f"__cluster_metadata record type {m.api_key}"}.get(m.kind, m.kind)
        flex = "none" if m.flexible.empty else f"{m.flexible.lo}+"
        o(f"/// {m.name}: {kind}; versions {m.valid.lo}-{m.valid.hi}, flexible {flex}.")
        emit_struct_decl(o, m.root, m, True)
        o()
    o("}  // namespace keel::protocol")
    return o.text()


def source_text(group, msgs):
    o = Out()
    o(BANNER)
    o(f"#include <keel/protocol/messages/{group}.h>\n")
    o("#include <algorithm>\n#include <cstdint>\n#include <string>\n")
    o("namespace keel::protocol {\n")
    for m in msgs:
        for st in m.structs + [m.root]:
            top = st is m.root
            emit_decode(o, st, m, top)
            o()
            emit_encode(o, st, m, top)
            o()
            emit_size(o, st, m)
            o()
    o("}  // namespace keel::protocol")
    return o.text()


def api_keys_files(msgs):
    apis = {}
    for m in msgs:
        if m.kind == "request":
            apis[m.api_key] = m
    o = Out()
    o(BANNER + "#pragma once\n")
    o("#include <cstdint>\n#include <span>\n#include <string_view>\n")
    o("namespace keel::protocol {\n")
    o("/// Every API keel's codec speaks, by Kafka's API key.")
    o.open("enum class ApiKey : std::int16_t {")
    for k in sorted(apis):
        o(f"{snake(api_base(apis[k].name))} = {k},")
    o.close("};\n")
    o("/// What the schemas say of an API: its name, versions and which listeners serve it.")
    o.open("struct ApiInfo {")
    o("ApiKey key;\nstd::string_view name;\nstd::int16_t lowest_version;\n"
      "std::int16_t highest_version;\nstd::int16_t first_flexible_version;  // -1: never\n"
      "bool broker_listener;\nbool controller_listener;")
    o.close("};\n")
    o("std::span<const ApiInfo> all_apis();")
    o("/// The API with this key, or nullptr when the codec does not know it.")
    o("const ApiInfo* find_api(std::int16_t key);")
    o("/// Request header version for a request: 2 for flexible versions, else 1.")
    o("std::int16_t request_header_version(const ApiInfo& api, std::int16_t version);")
    o("/// Response header version: 1 for flexible versions, else 0; ApiVersions is always 0")
    o("/// (so a client that sent an unsupported version can still read the reply).")
    o("std::int16_t response_header_version(const ApiInfo& api, std::int16_t version);\n")
    o("}  // namespace keel::protocol")
    header = o.text()

    o = Out()
    o(BANNER + "#include <keel/protocol/api_keys.h>\n")
    o("#include <array>\n")
    o("namespace keel::protocol {\n\nnamespace {\n")
    o.open(f"constexpr std::array<ApiInfo, {len(apis)}> kApis{{{{")
    for k in sorted(apis):
        m = apis[k]
        flex = -1 if m.flexible.empty else m.flexible.lo
        broker = "true" if "broker" in m.listeners else "false"
        ctrl = "true" if "controller" in m.listeners else "false"
        o(f'{{ApiKey::{snake(api_base(m.name))}, "{api_base(m.name)}", {m.valid.lo}, {m.valid.hi}, '
          f"{flex}, {broker}, {ctrl}}},")
    o.close("}};\n")
    o("}  // namespace\n")
    o("std::span<const ApiInfo> all_apis() { return kApis; }\n")
    o.open("const ApiInfo* find_api(std::int16_t key) {")
    o("for (const auto& api : kApis) {\n  if (static_cast<std::int16_t>(api.key) == key) return &api;\n}")
    o("return nullptr;")
    o.close()
    o()
    o.open("std::int16_t request_header_version(const ApiInfo& api, std::int16_t version) {")
    o("return (api.first_flexible_version >= 0 && version >= api.first_flexible_version) ? 2 : 1;")
    o.close()
    o()
    o.open("std::int16_t response_header_version(const ApiInfo& api, std::int16_t version) {")
    o("if (api.key == ApiKey::api_versions) return 0;")
    o("return (api.first_flexible_version >= 0 && version >= api.first_flexible_version) ? 1 : 0;")
    o.close()
    o("\n}  // namespace keel::protocol")
    source = o.text()
    return header, source


def error_files(errors):
    o = Out()
    o(BANNER + "#pragma once\n")
    o("#include <cstdint>\n#include <string_view>\n")
    o("namespace keel::protocol {\n")
    o("/// Kafka's error codes, as sent on the wire.")
    o.open("enum class ErrorCode : std::int16_t {")
    for code, name in errors:
        o(f"{name.lower()} = {code},")
    o.close("};\n")
    o("/// Kafka's name of the error (\"OFFSET_OUT_OF_RANGE\"), or \"UNKNOWN\".")
    o("std::string_view error_name(ErrorCode code);")
    o("inline std::int16_t to_wire(ErrorCode code) { return static_cast<std::int16_t>(code); }\n")
    o("}  // namespace keel::protocol")
    header = o.text()
    o = Out()
    o(BANNER + "#include <keel/protocol/error_codes.h>\n")
    o("namespace keel::protocol {\n")
    o.open("std::string_view error_name(ErrorCode code) {")
    o.open("switch (code) {")
    for code, name in errors:
        o(f'case ErrorCode::{name.lower()}: return "{name}";')
    o.close()
    o('return "UNKNOWN";')
    o.close()
    o("\n}  // namespace keel::protocol")
    return header, o.text()


def dispatch_source(msgs):
    """reencode_message(): decode + encode any request or response by API key (tools, tests,
    fuzzing)."""
    o = Out()
    o(BANNER + "#include <keel/protocol/message_dispatch.h>\n")
    for g in sorted({group_of(m) for m in msgs if m.kind in ("request", "response")}):
        o(f"#include <keel/protocol/messages/{g}.h>")
    o("\nnamespace keel::protocol {\n\nnamespace {\n")
    o.open("template <class T>\nResult<Bytes> reencode(ByteView body, std::int16_t version) {")
    o("T message;\nReader r(body);\nKEEL_TRY(message.decode(r, version));")
    o("if (r.remaining() != 0) {")
    o('  return Fail{Error{std::string(T::message_name) + ": " + std::to_string(r.remaining()) +')
    o('                    " bytes left after decoding version " + std::to_string(version)}};')
    o("}")
    o("Writer w(body.size());\nKEEL_TRY(message.encode(w, version));\nreturn w.take();")
    o.close()
    o("\n}  // namespace\n")
    for kind in ("request", "response"):
        o.open(f"Result<Bytes> reencode_{kind}(std::int16_t api_key, std::int16_t version, "
               f"ByteView body) {{")
        o.open("switch (api_key) {")
        for m in sorted((m for m in msgs if m.kind == kind), key=lambda m: m.api_key):
            o(f"case {m.api_key}: return reencode<{m.name}>(body, version);")
        o.close()
        o('return Fail{Error{"unknown API key " + std::to_string(api_key)}};')
        o.close()
        o()
    o("}  // namespace keel::protocol")
    return o.text()


# ---- test fillers -------------------------------------------------------------------------

def fill_scalar(f):
    if f.is_array:  # the default belongs to the array, not its elements
        return {"bool": "true", "float64": "2.5", "uuid": "test_uuid()"}.get(f.elem, "7")
    if f.elem == "bool":
        return "false" if scalar_default(f) == "true" else "true"
    if f.elem == "float64":
        return "2.5"
    if f.elem == "uuid":
        return "test_uuid()"
    d = int(int_literal(f).replace("LL", "")) if "(" not in int_literal(f) else 0
    return str(7 if d != 7 else 8)


def emit_fill_value(o, f, target, elem=False):
    nullable_here = f.is_nullable_type and not elem
    if f.is_struct:
        if nullable_here:
            o(f"{target} = {f.struct.qualified}{{}};")
            target = f"*{target}"
        o(f"fill({target}, msg_version);")
    elif f.is_fixed:
        o(f"{target} = {fill_scalar(f)};")
    elif f.elem == "string":
        o(f'{target} = std::string("keel-{f.name}");')
    elif f.elem == "bytes":
        o(f"{target} = Bytes{{1, 2, 3}};")
    else:
        o(f"{target} = Records(test_records());")


def emit_fill(o, st, m):
    o.open(f"[[maybe_unused]] static void fill([[maybe_unused]] {st.qualified}& m, "
           f"[[maybe_unused]] std::int16_t msg_version) {{")
    for f in st.fields:
        if f.versions.empty:
            continue
        cond = f.versions.cond(m.valid)
        o.open(f"if ({cond}) {{")
        if f.is_array:
            o(f"auto& items = m.{f.cname}{'.emplace()' if f.is_nullable_type else ''};")
            o("items.clear();")
            o.open("for (int i = 0; i < 2; ++i) {")
            emit_fill_value(o, f, "items.emplace_back()", elem=True)
            o.close()
        else:
            emit_fill_value(o, f, f"m.{f.cname}")
        o.close()
    o.close()


def test_text(msgs):
    o = Out()
    o(BANNER + '#include "roundtrip.h"\n')
    for g in sorted({group_of(m) for m in msgs}):
        o(f"#include <keel/protocol/messages/{g}.h>")
    # Fillers have internal linkage but live in keel::protocol, so the round-trip template
    # finds them by argument-dependent lookup.
    o("\nnamespace keel::protocol {\n")
    for m in msgs:
        for st in m.structs + [m.root]:
            o(f"static void fill({st.qualified}& m, std::int16_t version);")
    o()
    for m in msgs:
        for st in m.structs + [m.root]:
            emit_fill(o, st, m)
            o()
    for m in msgs:
        every_version_has_fields = all(
            any(f.versions.contains(v) for f in m.root.fields)
            for v in range(m.valid.lo, m.valid.hi + 1))
        o(f"TEST(Roundtrip, {m.name}) {{\n"
          f"  expect_roundtrip_all_versions<{m.name}>({str(every_version_has_fields).lower()});\n}}")
    o("\n}  // namespace keel::protocol")
    return o.text()


# ---- driver -------------------------------------------------------------------------------

# Names the generated functions use for parameters and locals; a field with one of these
# names would be shadowed, so the generator refuses it.
GENERATED_LOCALS = {"msg_version", "flexible", "n", "field_size", "tag_count", "items", "item",
                    "tag", "data", "next_unknown", "tagged", "t", "i", "tr", "r", "w", "m"}


def check_names(msgs):
    for m in msgs:
        for st in m.structs + [m.root]:
            for f in st.fields:
                if f.cname in GENERATED_LOCALS:
                    raise SystemExit(f"{m.name}: field {f.name} collides with a generated local")


def schema_files(schema_dirs):
    """(group, file name) -> path; a file of a later folder replaces one of the same name."""
    files = {}
    for schema_dir in schema_dirs:
        for group in ("message", "metadata", "coordinator"):
            d = os.path.join(schema_dir, group)
            if not os.path.isdir(d):
                continue
            for fn in os.listdir(d):
                if fn.endswith(".json"):
                    files[(group, fn)] = os.path.join(d, fn)
    return files


def load(schema_dirs):
    msgs = []
    for (group, _), path in sorted(schema_files(schema_dirs).items()):
        with open(path) as fh:
            msgs.append(Message(json.load(fh), group))
    errors = {}
    for schema_dir in schema_dirs:
        path = os.path.join(schema_dir, "errors.tsv")
        if not os.path.exists(path):
            continue
        with open(path) as fh:
            for line in fh.read().splitlines()[1:]:
                code, name = line.split("\t")
                errors[int(code)] = name
    return msgs, sorted(errors.items())


def outputs(msgs, errors):
    groups = {}
    for m in msgs:
        groups.setdefault(group_of(m), []).append(m)
    files = {}
    for g, ms in sorted(groups.items()):
        files[f"include/keel/protocol/messages/{g}.h"] = lambda ms=ms: header_text(ms)
        files[f"src/{g}.cpp"] = lambda g=g, ms=ms: source_text(g, ms)
    files["include/keel/protocol/api_keys.h"] = lambda: api_keys_files(msgs)[0]
    files["src/api_keys.cpp"] = lambda: api_keys_files(msgs)[1]
    files["include/keel/protocol/error_codes.h"] = lambda: error_files(errors)[0]
    files["src/error_codes.cpp"] = lambda: error_files(errors)[1]
    files["src/message_dispatch.cpp"] = lambda: dispatch_source(msgs)
    for i in range(TEST_BUCKETS):
        chunk = [m for j, m in enumerate(msgs) if j % TEST_BUCKETS == i]
        files[f"tests/roundtrip_{i}.cpp"] = lambda chunk=chunk: test_text(chunk)
    return files


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    schema_dir, out_dir = sys.argv[1], sys.argv[2]
    flags = sys.argv[3:]
    overlays = [flags[i + 1] for i, flag in enumerate(flags) if flag == "--overlay"]
    msgs, errors = load([schema_dir] + overlays)
    check_names(msgs)
    files = outputs(msgs, errors)
    if "--list" in sys.argv[3:]:
        for rel in files:
            print(os.path.join(out_dir, rel))
        return 0
    for rel, make in files.items():
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = make()
        # Leave unchanged files alone so a schema edit rebuilds only what it touches.
        if os.path.exists(path) and open(path).read() == text:
            continue
        with open(path, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
