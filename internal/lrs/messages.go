package lrs

import "jnedu/internal/platform/web"

// Messages is the learning-record store's catalog.
func Messages() web.Catalog {
	return web.Catalog{
		"lrs.group":             {"学习记录库", "Learning-record store"},
		"lrs.tile":              {"学习记录", "Learning records"},
		"lrs.tile_desc":         {"查看本单位的学习记录（xAPI 语句）", "Browse your organisation's learning records (xAPI statements)"},
		"lrs.tile_clients":      {"xAPI 接入凭据", "xAPI credentials"},
		"lrs.tile_clients_desc": {"为外部学习工具创建和吊销接入密钥", "Create and revoke keys for outside learning tools"},
		"lrs.clients":           {"xAPI 接入凭据", "xAPI credentials"},
		"lrs.clients_intro":     {"外部工具用 HTTP Basic（密钥 + 密码）访问学习记录库接口。凭据限定在一个单位及其下级单位内。", "Outside tools call the learning-record store with HTTP Basic (key + secret). A credential is limited to one organisation and those below it."},
		"lrs.endpoint":          {"接口地址", "Endpoint"},
		"lrs.client_new":        {"新建凭据", "New credential"},
		"lrs.client_name":       {"名称", "Name"},
		"lrs.client_org":        {"所属单位", "Organisation"},
		"lrs.client_scope":      {"权限", "Scope"},
		"lrs.client_key":        {"密钥", "Key"},
		"lrs.client_secret":     {"密码", "Secret"},
		"lrs.client_created_at": {"创建时间", "Created"},
		"lrs.client_last_used":  {"最近使用", "Last used"},
		"lrs.client_state":      {"状态", "State"},
		"lrs.client_active":     {"有效", "active"},
		"lrs.client_revoked":    {"已吊销", "revoked"},
		"lrs.client_revoke":     {"吊销", "Revoke"},
		"lrs.client_create":     {"创建", "Create"},
		"lrs.client_created":    {"凭据已创建。密码只显示这一次，请立即复制保存。", "Credential created. The secret is shown this once: copy it now."},
		"lrs.client_none":       {"还没有凭据。", "No credentials yet."},
		"lrs.scope_read":        {"只读", "read"},
		"lrs.scope_write":       {"只写", "write"},
		"lrs.scope_all":         {"读写", "read and write"},
		"lrs.err_client_name":   {"请填写名称（最多 100 个字）", "Enter a name (at most 100 characters)"},
		"lrs.err_client_scope":  {"请选择权限", "Choose a scope"},
		"lrs.err_client_org":    {"请选择您管理范围内的单位", "Choose an organisation you manage"},
		"lrs.err_filter_iri":    {"筛选条件须为完整的 IRI（如 http://adlnet.gov/expapi/verbs/completed）", "Filters must be full IRIs (e.g. http://adlnet.gov/expapi/verbs/completed)"},
		"lrs.records_intro":     {"最近的学习记录（每个单位最多 100 条）。查看记录会写入审计日志。", "Latest learning records (up to 100 per organisation). Viewing them is written to the audit log."},
		"lrs.filter_verb":       {"动词 IRI", "Verb IRI"},
		"lrs.filter_activity":   {"活动 IRI", "Activity IRI"},
		"lrs.filter":            {"筛选", "Filter"},
		"lrs.col_stored":        {"存储时间", "Stored"},
		"lrs.col_actor":         {"学习者", "Actor"},
		"lrs.col_verb":          {"动作", "Verb"},
		"lrs.col_activity":      {"活动", "Activity"},
		"lrs.records_none":      {"没有符合条件的记录。", "No records match."},
	}
}
