package web

// Messages is the web layer's own catalog: errors every subsystem may
// return, and the words of the layout.
func Messages() Catalog {
	return Catalog{
		"app.name":                     {"济南教育信息化平台", "Jinan Education Informatization Platform"},
		"app.short":                    {"济南教育", "jnedu"},
		"app.org":                      {"济南市电化教育馆", "Jinan Audio-Visual Education Center"},
		"nav.skip":                     {"跳到正文", "Skip to content"},
		"nav.menu":                     {"菜单", "Menu"},
		"nav.lang_switch":              {"English", "中文"},
		"err.title":                    {"出错了", "Something went wrong"},
		"err.back_home":                {"返回首页", "Back to the home page"},
		"err.request_id":               {"请求编号", "Request ID"},
		"err.not_found":                {"您要找的页面或数据不存在。", "The page or item you asked for does not exist."},
		"err.internal":                 {"系统内部错误，请稍后重试；如仍有问题，请把请求编号告诉管理员。", "An internal error occurred. Please try again later; if it persists, give the request ID to an administrator."},
		"err.cross_origin":             {"请求来自其他网站，已被拒绝。", "The request came from another site and was refused."},
		"err.csrf":                     {"页面已过期或请求来源不明，请刷新页面后重试。", "The page has expired or the request could not be verified. Reload the page and try again."},
		"err.metrics_forbidden":        {"监控指标只对本机和内网开放（配置项 metrics_allow）。", "Metrics are open to this host and the private networks only (setting metrics_allow)."},
		"err.json_content_type":        {"请求体必须是 JSON（Content-Type: application/json）。", "The request body must be JSON (Content-Type: application/json)."},
		"err.body_too_large":           {"提交的内容过大（上限 %d 字节）。", "The request body is too large (limit %d bytes)."},
		"err.json_empty":               {"请求体为空。", "The request body is empty."},
		"err.json_syntax":              {"JSON 格式错误（位置 %d）。", "Malformed JSON (at offset %d)."},
		"err.json_type":                {"字段 %s 的类型不正确。", "Field %s has the wrong type."},
		"err.json_type_field":          {"类型不正确", "wrong type"},
		"err.json_unknown_field":       {"不认识的字段：%s。", "Unknown field: %s."},
		"err.json_unknown_field_short": {"不认识的字段", "unknown field"},
		"err.json_invalid":             {"请求体不是有效的 JSON。", "The request body is not valid JSON."},
		"err.json_trailing":            {"JSON 之后还有多余的内容。", "Unexpected data after the JSON value."},
		"err.form_invalid":             {"表单数据无效。", "The form data is invalid."},
		"err.unauthenticated":          {"请先登录。", "Please sign in first."},
		"err.forbidden":                {"您没有权限进行此操作。", "You are not allowed to do this."},
		"err.password_change":          {"请先修改密码。", "Please change your password first."},
		"err.bad_id":                   {"编号无效。", "Invalid ID."},
		"err.required":                 {"必填", "required"},
		"err.too_long":                 {"太长了（最多 %d 个字符）", "too long (at most %d characters)"},
		"err.invalid_value":            {"取值无效", "invalid value"},
		"err.form_has_errors":          {"表单中有错误，请按提示修改。", "The form has errors; please correct them."},
	}
}
