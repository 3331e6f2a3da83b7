// Reading the process-definition JSON Schema (GET /api/schema/process-definition): the same
// document the API validates with, so the builder's forms cannot drift from the API.

/** The config schema of each trigger or action type: {type_name: schema}. */
export function typeConfigSchemas(schema, kind) {
  const item = schema.properties[`${kind}s`].items;
  const out = {};
  for (const rule of item.allOf || []) {
    const name = rule.if?.properties?.[`${kind}_type`]?.const;
    const config = rule.then?.properties?.[`${kind}_config`];
    if (name && config) out[name] = config;
  }
  for (const name of item.properties[`${kind}_type`].enum || []) out[name] ||= { type: "object" };
  return out;
}

/** The properties a trigger or action item may have besides its type and config. */
export function itemSchema(schema, kind) {
  return schema.properties[`${kind}s`].items;
}

/** Condition operators: {op: {schema, description, fieldBased}}. */
export function conditionOps(schema) {
  const cond = schema.$defs?.condition || {};
  const out = {};
  for (const rule of cond.allOf || []) {
    const op = rule.if?.properties?.op?.const;
    if (!op) continue;
    const then = rule.then || {};
    out[op] = { schema: then, description: then.description || "", fieldBased: "field" in (then.properties || {}) };
  }
  return out;
}

/** Keep only the keys the schema knows (drops ids, counters and timestamps of API objects). */
export function definitionFrom(process, schema) {
  const top = Object.keys(schema.properties);
  const def = {};
  for (const key of top) if (key in process && process[key] !== undefined) def[key] = process[key];
  if (!("max" in def) && "max_runs" in process) def.max = process.max_runs;
  for (const kind of ["trigger", "action"]) {
    const keys = Object.keys(itemSchema(schema, kind).properties);
    def[`${kind}s`] = (process[`${kind}s`] || []).map((item) =>
      Object.fromEntries(keys.filter((k) => k in item && item[k] !== undefined).map((k) => [k, item[k]])));
  }
  if (def.actions.every((a) => typeof a.action_order === "number")) {
    def.actions.sort((a, b) => a.action_order - b.action_order);
  }
  return def;
}

/** Path helpers: "actions[2].action_config.text" -> parent "actions[2].action_config". */
export function parentPath(path) {
  const m = path.match(/^(.*)(\.[^.[\]]+|\[\d+\])$/);
  return m ? m[1] : "";
}

export function joinPath(base, key) {
  if (typeof key === "number") return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

/** "event.X" references in conditions and templates: to prefill a sample event. */
export function referencedEventFields(definition) {
  const found = new Set();
  const text = JSON.stringify(definition);
  for (const m of text.matchAll(/event\.([A-Za-z0-9_]+)/g)) found.add(m[1]);
  for (const key of ["type", "source", "time", "triggered_by", "chain"]) found.delete(key);
  return [...found];
}

export function humanise(key) {
  const text = String(key).replace(/_/g, " ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}
