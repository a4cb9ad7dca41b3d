// config_toml: the one C++ file. toml++ parses the TOML document; this turns
// it into a cJSON tree that the rest of dbgit (C) reads. Every table also
// gets a CONFIG_POS_KEY member mapping each key to [line, column], so the
// validator can name the line of a wrong value.
#include <toml++/toml.h>

#include <cstdio>
#include <string>

extern "C" {
#include <cjson/cJSON.h>

#include "dbgit/config.h"
}

static cJSON *convert(const toml::node &node);

static cJSON *pos_of(const toml::node &node)
{
	const auto &src = node.source();
	cJSON *pos = cJSON_CreateArray();
	cJSON_AddItemToArray(pos, cJSON_CreateNumber((double)src.begin.line));
	cJSON_AddItemToArray(pos, cJSON_CreateNumber((double)src.begin.column));
	return pos;
}

static cJSON *convert_table(const toml::table &tbl)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON *pos = cJSON_CreateObject();
	for (const auto &[key, value] : tbl) {
		std::string k(key.str());
		cJSON_AddItemToObject(obj, k.c_str(), convert(value));
		// The key's own position is more useful than the value's for
		// "unknown key" messages; fall back to the value's.
		const auto &ksrc = key.source();
		if (ksrc.begin.line) {
			cJSON *p = cJSON_CreateArray();
			cJSON_AddItemToArray(p, cJSON_CreateNumber((double)ksrc.begin.line));
			cJSON_AddItemToArray(p, cJSON_CreateNumber((double)ksrc.begin.column));
			cJSON_AddItemToObject(pos, k.c_str(), p);
		} else {
			cJSON_AddItemToObject(pos, k.c_str(), pos_of(value));
		}
	}
	cJSON_AddItemToObject(obj, CONFIG_POS_KEY, pos);
	return obj;
}

static cJSON *convert(const toml::node &node)
{
	switch (node.type()) {
	case toml::node_type::table:
		return convert_table(*node.as_table());
	case toml::node_type::array: {
		cJSON *arr = cJSON_CreateArray();
		for (const auto &el : *node.as_array())
			cJSON_AddItemToArray(arr, convert(el));
		return arr;
	}
	case toml::node_type::string:
		return cJSON_CreateString(node.as_string()->get().c_str());
	case toml::node_type::integer:
		return cJSON_CreateNumber((double)node.as_integer()->get());
	case toml::node_type::floating_point:
		return cJSON_CreateNumber(node.as_floating_point()->get());
	case toml::node_type::boolean:
		return cJSON_CreateBool(node.as_boolean()->get());
	default: {
		// Dates and times: kept as their TOML text.
		std::string s;
		if (auto d = node.as_date())
			s = std::to_string(d->get().year);
		return cJSON_CreateString(s.c_str());
	}
	}
}

extern "C" cJSON *config_toml_parse(const char *text, size_t len, char *err, size_t errlen)
{
	try {
		toml::table tbl = toml::parse(std::string_view(text, len));
		return convert_table(tbl);
	} catch (const toml::parse_error &e) {
		std::string what(e.description());
		std::snprintf(err, errlen, "line %u, column %u: %s", (unsigned)e.source().begin.line,
			      (unsigned)e.source().begin.column, what.c_str());
		return nullptr;
	} catch (const std::exception &e) {
		std::snprintf(err, errlen, "%s", e.what());
		return nullptr;
	}
}
