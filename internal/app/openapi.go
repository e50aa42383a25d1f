package app

import (
	"reflect"
	"regexp"
	"strings"

	"jnedu/internal/platform/web"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z_]+)(\.\.\.)?\}`)

// OpenAPI describes every /api/ route (and the system endpoints) as an
// OpenAPI 3.0 document, generated from the route table so it cannot drift.
func OpenAPI(rs *web.Routes, version string) map[string]any {
	paths := map[string]map[string]any{}
	schemas := map[string]any{
		"Error": map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
			"error": map[string]any{"type": "object", "required": []string{"code", "message"}, "properties": map[string]any{
				"code":       map[string]any{"type": "string", "description": "stable error code", "enum": []string{"invalid", "not_found", "conflict", "unauthenticated", "forbidden", "too_large", "rate_limited", "locked", "password_change", "unsupported", "unavailable", "internal"}},
				"message":    map[string]any{"type": "string", "description": "for people, in the caller's language"},
				"fields":     map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
				"request_id": map[string]any{"type": "string"},
			}},
		}},
	}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	for _, rt := range rs.All() {
		if !rt.IsAPI() && rt.Tag != "system" {
			continue
		}
		p := pathParam.ReplaceAllString(rt.Path, "{$1}")
		op := map[string]any{"summary": rt.Summary, "operationId": opID(rt), "tags": []string{rt.Tag}}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "integer", "format": "int64"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Request), schemas)}}}
		}
		okCode := "200"
		switch {
		case rt.Method == "POST" && rt.Response != nil && strings.Count(rt.Path, "/") <= 4 && !strings.HasSuffix(rt.Path, "/session") && !strings.HasSuffix(rt.Path, "/import"):
			okCode = "201"
		case rt.Response == nil && rt.Method != "GET":
			okCode = "204"
		}
		resp := map[string]any{"description": "OK"}
		if rt.Response != nil {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(rt.Response), schemas)}}
		}
		responses := map[string]any{okCode: resp, "400": errResp("Invalid input"), "default": errResp("Error")}
		if rt.Perm != web.Public {
			responses["401"] = errResp("Not signed in")
			responses["403"] = errResp("Not allowed (the permission needed: " + string(rt.Perm) + ")")
			op["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}}
			op["x-permission"] = string(rt.Perm)
		} else {
			op["security"] = []any{}
		}
		op["responses"] = responses
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "jnedu API", "version": version,
			"description": "济南教育信息化平台 JSON API. Authenticate with `Authorization: Bearer <API token>`, or with the session cookie plus the `X-CSRF-Token` header on state-changing requests. Errors are JSON with a stable `code`. Unknown JSON fields and oversized bodies are refused."},
		"servers": []any{map[string]any{"url": "/"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer", "description": "API token (jn_...)"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "jnedu_session"},
			},
		},
	}
}

func opID(rt *web.Route) string {
	s := strings.ToLower(rt.Method) + strings.NewReplacer("/api/v1/", "_", "/", "_", "{", "", "}", "", ".", "_", "-", "_").Replace(rt.Path)
	return strings.Trim(s, "_")
}

// schemaOf describes t, registering named structs under components.
func schemaOf(t reflect.Type, schemas map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return map[string]any{"type": "integer"}
	case reflect.Int64, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), schemas)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), schemas)}
	case reflect.Struct:
		name := t.Name()
		if name != "" {
			if _, ok := schemas[name]; !ok {
				schemas[name] = map[string]any{} // placeholder against recursion
				schemas[name] = structSchema(t, schemas)
			}
			return map[string]any{"$ref": "#/components/schemas/" + name}
		}
		return structSchema(t, schemas)
	}
	return map[string]any{}
}

func structSchema(t reflect.Type, schemas map[string]any) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if s, ok := structSchema(f.Type, schemas)["properties"].(map[string]any); ok {
				for k, v := range s {
					props[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(f.Type, schemas)
	}
	return map[string]any{"type": "object", "properties": props}
}
