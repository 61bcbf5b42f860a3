BEGIN TRANSACTION;
CREATE TABLE alertevent (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	kind VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	level INTEGER NOT NULL, 
	period VARCHAR NOT NULL, 
	value FLOAT NOT NULL, 
	limit_value FLOAT NOT NULL, 
	message VARCHAR NOT NULL, 
	user_id INTEGER, 
	acknowledged_at DATETIME, 
	PRIMARY KEY (id), 
	UNIQUE (kind, subject, level, period)
);
INSERT INTO "alertevent" VALUES(1,'2026-12-01 12:00:00.000000','token_budget','ci',80,'2026-12',4.1,5.0,'token ci at 82% of its budget',2,NULL);
CREATE TABLE appsetting (
	"key" VARCHAR NOT NULL, 
	value JSON, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);
INSERT INTO "appsetting" VALUES('retention_days',90,'2026-12-01 12:00:00.000000');
INSERT INTO "appsetting" VALUES('registration_mode','"open"','2026-12-01 12:00:00.000000');
CREATE TABLE attempt_rollup_day (
	bucket INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	token_id INTEGER NOT NULL, 
	provider VARCHAR NOT NULL, 
	key_id INTEGER NOT NULL, 
	model VARCHAR NOT NULL, 
	tried INTEGER NOT NULL, 
	failed INTEGER NOT NULL, 
	skipped INTEGER NOT NULL, 
	rate_limited INTEGER NOT NULL, 
	ms_sum FLOAT NOT NULL, 
	PRIMARY KEY (bucket, user_id, token_id, provider, key_id, model)
);
INSERT INTO "attempt_rollup_day" VALUES(1796083200,2,1,'openai-main',1,'smart',3,1,0,0,33.0);
CREATE TABLE attempt_rollup_hour (
	bucket INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	token_id INTEGER NOT NULL, 
	provider VARCHAR NOT NULL, 
	key_id INTEGER NOT NULL, 
	model VARCHAR NOT NULL, 
	tried INTEGER NOT NULL, 
	failed INTEGER NOT NULL, 
	skipped INTEGER NOT NULL, 
	rate_limited INTEGER NOT NULL, 
	ms_sum FLOAT NOT NULL, 
	PRIMARY KEY (bucket, user_id, token_id, provider, key_id, model)
);
INSERT INTO "attempt_rollup_hour" VALUES(1796126400,2,1,'openai-main',1,'smart',3,1,0,0,33.0);
CREATE TABLE auditevent (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor_id INTEGER, 
	actor VARCHAR, 
	action VARCHAR NOT NULL, 
	target VARCHAR, 
	detail JSON, 
	ip VARCHAR, 
	PRIMARY KEY (id)
);
INSERT INTO "auditevent" VALUES(1,'2026-12-01 12:00:00.000000',1,'admin@example.com','key.create','openai-main/primary','{"key_id":1}','10.0.0.1');
CREATE TABLE blindvote (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	model_a VARCHAR NOT NULL, 
	model_b VARCHAR NOT NULL, 
	outcome VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "blindvote" VALUES(1,2,'smart','fast','a','2026-12-01 12:00:00.000000');
CREATE TABLE conversation (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	title VARCHAR NOT NULL, 
	blind BOOLEAN NOT NULL, 
	revealed BOOLEAN NOT NULL, 
	same_settings BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "conversation" VALUES(1,2,'Haiku',1,0,1,'2026-12-01 12:00:00.000000','2026-12-01 12:00:00.000000');
CREATE TABLE conversationcolumn (
	id INTEGER NOT NULL, 
	conversation_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	model VARCHAR NOT NULL, 
	label VARCHAR, 
	settings JSON, 
	PRIMARY KEY (id), 
	FOREIGN KEY(conversation_id) REFERENCES conversation (id)
);
INSERT INTO "conversationcolumn" VALUES(1,1,0,'smart','Model A','{"temperature":0.2}');
CREATE TABLE conversationmessage (
	id INTEGER NOT NULL, 
	column_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	role VARCHAR NOT NULL, 
	content VARCHAR NOT NULL, 
	images JSON, 
	metrics JSON, 
	error VARCHAR, 
	stopped BOOLEAN NOT NULL, 
	note VARCHAR, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(column_id) REFERENCES conversationcolumn (id)
);
INSERT INTO "conversationmessage" VALUES(1,1,0,'user','write a haiku','["data:image/png;base64,AAAA"]','null',NULL,0,NULL,'2026-12-01 12:00:00.000000');
INSERT INTO "conversationmessage" VALUES(2,1,1,'assistant','old pond','null','{"ttft_ms":120.5,"tokens":7}',NULL,0,'n','2026-12-01 12:00:00.000000');
CREATE TABLE gatewaytoken (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	user_id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	token_hash VARCHAR NOT NULL, 
	token_last4 VARCHAR NOT NULL, 
	monthly_budget_micros INTEGER, 
	rpm INTEGER, 
	allowed_models JSON, 
	expires_at DATETIME, 
	revoked_at DATETIME, 
	created_at DATETIME NOT NULL, 
	last_used_at DATETIME, 
	FOREIGN KEY(user_id) REFERENCES user (id)
);
INSERT INTO "gatewaytoken" VALUES(1,2,'ci','cc7f391e468b36cf112b159fc609f82b29b8e996587c70f461ee73b8ea2ff9e7','CuYr',5000000,60,'["smart"]','2026-12-31 12:00:00.000000',NULL,'2026-12-07 18:02:58.893602','2026-12-01 12:02:00.000000');
CREATE TABLE invite (
	id INTEGER NOT NULL, 
	token_hash VARCHAR NOT NULL, 
	email VARCHAR, 
	role VARCHAR NOT NULL, 
	created_by INTEGER, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	used_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(created_by) REFERENCES user (id)
);
INSERT INTO "invite" VALUES(1,'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff','carol@example.com','user',1,'2026-12-01 12:00:00.000000','2026-12-08 12:00:00.000000',NULL);
CREATE TABLE keystate (
	key_id INTEGER NOT NULL, 
	cooldown_until DATETIME, 
	disabled_reason VARCHAR, 
	exhausted_until DATETIME, 
	consecutive_failures INTEGER NOT NULL, 
	last_error VARCHAR, 
	last_error_at DATETIME, 
	day VARCHAR, 
	day_tokens INTEGER NOT NULL, 
	month VARCHAR, 
	month_cost_micros INTEGER NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (key_id), 
	FOREIGN KEY(key_id) REFERENCES providerkey (id)
);
INSERT INTO "keystate" VALUES(1,'2026-12-01 12:01:00.000000',NULL,NULL,2,'rate_limited: slow down','2026-12-01 12:00:00.000000','2026-12-01',1234,'2026-12',4567,'2026-12-01 12:00:00.000000');
CREATE TABLE logicalmodel (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	description VARCHAR, 
	enabled BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "logicalmodel" VALUES(1,'smart','the best',1,'2026-12-07 18:02:58.600506','2026-12-07 18:02:58.600521');
INSERT INTO "logicalmodel" VALUES(2,'fast',NULL,0,'2026-12-07 18:02:58.610054','2026-12-07 18:02:58.610075');
CREATE TABLE modelroute (
	id INTEGER NOT NULL, 
	model_id INTEGER NOT NULL, 
	provider_id INTEGER NOT NULL, 
	upstream_model VARCHAR NOT NULL, 
	priority INTEGER NOT NULL, 
	weight INTEGER NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (model_id, provider_id, upstream_model), 
	FOREIGN KEY(model_id) REFERENCES logicalmodel (id), 
	FOREIGN KEY(provider_id) REFERENCES provider (id)
);
INSERT INTO "modelroute" VALUES(1,1,1,'gpt-4o',1,2);
INSERT INTO "modelroute" VALUES(2,1,2,'claude-sonnet-4-5',2,1);
INSERT INTO "modelroute" VALUES(3,2,3,'llama3',1,1);
CREATE TABLE prompttemplate (
	id INTEGER NOT NULL, 
	owner_id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	body VARCHAR NOT NULL, 
	shared BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "prompttemplate" VALUES(1,2,'haiku','Write a haiku about {{topic}}',1,'2026-12-01 12:00:00.000000','2026-12-01 12:00:00.000000');
CREATE TABLE provider (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	name VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	base_url VARCHAR, 
	enabled BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL
);
INSERT INTO "provider" VALUES(1,'openai-main','openai',NULL,1,'2026-12-07 18:02:58.568699','2026-12-07 18:02:58.568718');
INSERT INTO "provider" VALUES(2,'claude','anthropic','https://api.anthropic.com',1,'2026-12-07 18:02:58.583268','2026-12-07 18:02:58.583286');
INSERT INTO "provider" VALUES(3,'local','openai_compatible','http://127.0.0.1:9999/v1',0,'2026-12-07 18:02:58.592288','2026-12-07 18:02:58.592302');
CREATE TABLE providercircuit (
	provider_id INTEGER NOT NULL, 
	consecutive_failures INTEGER NOT NULL, 
	open_until DATETIME, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (provider_id), 
	FOREIGN KEY(provider_id) REFERENCES provider (id)
);
INSERT INTO "providercircuit" VALUES(2,3,'2026-12-01 12:00:30.000000','2026-12-01 12:00:00.000000');
CREATE TABLE providerkey (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	provider_id INTEGER NOT NULL, 
	label VARCHAR NOT NULL, 
	secret_enc VARCHAR NOT NULL, 
	secret_last4 VARCHAR NOT NULL, 
	priority INTEGER NOT NULL, 
	weight INTEGER NOT NULL, 
	rpm INTEGER, 
	tpm INTEGER, 
	daily_tokens INTEGER, 
	monthly_usd_micros INTEGER, 
	enabled BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	UNIQUE (provider_id, label), 
	FOREIGN KEY(provider_id) REFERENCES provider (id)
);
INSERT INTO "providerkey" VALUES(1,1,'primary','gAAAAABrFvTS9Poc7WzrIN_ZnSQ9GTPscPinjnrSGyC0fTviX-rD57CQFlr0L_PA8-xl7EFb-bQpxWltUWqbJpxDeO_rJUgMju5AwkkhhciX-9q_VOFhGAA=','0001',1,1,500,90000,NULL,25500000,1,'2026-12-07 18:02:58.573138','2026-12-07 18:02:58.573155');
INSERT INTO "providerkey" VALUES(2,1,'backup','gAAAAABrFvTSY1kLRfxaIDKYqNJ9pkym-2YO6AaKBmJrgWeQaK3LsRhAHXdWDsM-Xsaf_zaicOCrWDo5cdw6tAPD7ugFwkulhaZgb_svlW3zTEdQbs0SD_o=','0002',2,3,NULL,NULL,100000,NULL,0,'2026-12-07 18:02:58.575520','2026-12-07 18:02:58.575541');
INSERT INTO "providerkey" VALUES(3,2,'k','gAAAAABrFvTS-XlneeVv6caWXoHeVd6FhBY3mf1TWb1tGPg9yEdkSj0a5ALG33ZrU89uPhua2KZMLQHVJ19XqKoTGJlIXeKl_mEg8pnuhb4QgAg9-vUr-hI=','0003',1,1,NULL,NULL,NULL,NULL,1,'2026-12-07 18:02:58.584654','2026-12-07 18:02:58.584668');
INSERT INTO "providerkey" VALUES(4,3,'none','gAAAAABrFvTSUDjZwsOovSuLavlnxI9qK2QN3OEJmI2fHxEVDvGQAUzr-Wafd26HifyMtyKWGKvQtVQJTNTIaRAUEj7hssZivQ==','',1,1,NULL,NULL,NULL,NULL,1,'2026-12-07 18:02:58.593119','2026-12-07 18:02:58.593130');
CREATE TABLE schemaversion (
	id INTEGER NOT NULL, 
	version INTEGER NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "schemaversion" VALUES(1,1);
CREATE TABLE usage_rollup_day (
	bucket INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	token_id INTEGER NOT NULL, 
	provider VARCHAR NOT NULL, 
	key_id INTEGER NOT NULL, 
	model VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	requests INTEGER NOT NULL, 
	errors INTEGER NOT NULL, 
	prompt_tokens INTEGER NOT NULL, 
	completion_tokens INTEGER NOT NULL, 
	cost_micros INTEGER NOT NULL, 
	cost_unknown INTEGER NOT NULL, 
	ttft_count INTEGER NOT NULL, 
	latency_ms_sum FLOAT NOT NULL, 
	ttft_ms_sum FLOAT NOT NULL, 
	lat_0 INTEGER NOT NULL, 
	lat_1 INTEGER NOT NULL, 
	lat_2 INTEGER NOT NULL, 
	lat_3 INTEGER NOT NULL, 
	lat_4 INTEGER NOT NULL, 
	lat_5 INTEGER NOT NULL, 
	lat_6 INTEGER NOT NULL, 
	lat_7 INTEGER NOT NULL, 
	lat_8 INTEGER NOT NULL, 
	lat_9 INTEGER NOT NULL, 
	lat_10 INTEGER NOT NULL, 
	lat_11 INTEGER NOT NULL, 
	lat_12 INTEGER NOT NULL, 
	lat_13 INTEGER NOT NULL, 
	lat_14 INTEGER NOT NULL, 
	lat_15 INTEGER NOT NULL, 
	lat_16 INTEGER NOT NULL, 
	lat_17 INTEGER NOT NULL, 
	lat_18 INTEGER NOT NULL, 
	lat_19 INTEGER NOT NULL, 
	lat_20 INTEGER NOT NULL, 
	lat_21 INTEGER NOT NULL, 
	lat_22 INTEGER NOT NULL, 
	lat_23 INTEGER NOT NULL, 
	lat_24 INTEGER NOT NULL, 
	lat_25 INTEGER NOT NULL, 
	lat_26 INTEGER NOT NULL, 
	lat_27 INTEGER NOT NULL, 
	lat_28 INTEGER NOT NULL, 
	lat_29 INTEGER NOT NULL, 
	lat_30 INTEGER NOT NULL, 
	lat_31 INTEGER NOT NULL, 
	lat_32 INTEGER NOT NULL, 
	lat_33 INTEGER NOT NULL, 
	lat_34 INTEGER NOT NULL, 
	lat_35 INTEGER NOT NULL, 
	lat_36 INTEGER NOT NULL, 
	lat_37 INTEGER NOT NULL, 
	lat_38 INTEGER NOT NULL, 
	lat_39 INTEGER NOT NULL, 
	PRIMARY KEY (bucket, user_id, token_id, provider, key_id, model, status)
);
INSERT INTO "usage_rollup_day" VALUES(1796083200,2,1,'openai-main',1,'smart','error',1,1,10,0,0,0,0,12.5,0.0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0);
INSERT INTO "usage_rollup_day" VALUES(1796083200,2,1,'openai-main',1,'smart','ok',2,0,23,15,300,0,2,28.0,6.5,0,0,0,0,0,0,0,0,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0);
CREATE TABLE usage_rollup_hour (
	bucket INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	token_id INTEGER NOT NULL, 
	provider VARCHAR NOT NULL, 
	key_id INTEGER NOT NULL, 
	model VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	requests INTEGER NOT NULL, 
	errors INTEGER NOT NULL, 
	prompt_tokens INTEGER NOT NULL, 
	completion_tokens INTEGER NOT NULL, 
	cost_micros INTEGER NOT NULL, 
	cost_unknown INTEGER NOT NULL, 
	ttft_count INTEGER NOT NULL, 
	latency_ms_sum FLOAT NOT NULL, 
	ttft_ms_sum FLOAT NOT NULL, 
	lat_0 INTEGER NOT NULL, 
	lat_1 INTEGER NOT NULL, 
	lat_2 INTEGER NOT NULL, 
	lat_3 INTEGER NOT NULL, 
	lat_4 INTEGER NOT NULL, 
	lat_5 INTEGER NOT NULL, 
	lat_6 INTEGER NOT NULL, 
	lat_7 INTEGER NOT NULL, 
	lat_8 INTEGER NOT NULL, 
	lat_9 INTEGER NOT NULL, 
	lat_10 INTEGER NOT NULL, 
	lat_11 INTEGER NOT NULL, 
	lat_12 INTEGER NOT NULL, 
	lat_13 INTEGER NOT NULL, 
	lat_14 INTEGER NOT NULL, 
	lat_15 INTEGER NOT NULL, 
	lat_16 INTEGER NOT NULL, 
	lat_17 INTEGER NOT NULL, 
	lat_18 INTEGER NOT NULL, 
	lat_19 INTEGER NOT NULL, 
	lat_20 INTEGER NOT NULL, 
	lat_21 INTEGER NOT NULL, 
	lat_22 INTEGER NOT NULL, 
	lat_23 INTEGER NOT NULL, 
	lat_24 INTEGER NOT NULL, 
	lat_25 INTEGER NOT NULL, 
	lat_26 INTEGER NOT NULL, 
	lat_27 INTEGER NOT NULL, 
	lat_28 INTEGER NOT NULL, 
	lat_29 INTEGER NOT NULL, 
	lat_30 INTEGER NOT NULL, 
	lat_31 INTEGER NOT NULL, 
	lat_32 INTEGER NOT NULL, 
	lat_33 INTEGER NOT NULL, 
	lat_34 INTEGER NOT NULL, 
	lat_35 INTEGER NOT NULL, 
	lat_36 INTEGER NOT NULL, 
	lat_37 INTEGER NOT NULL, 
	lat_38 INTEGER NOT NULL, 
	lat_39 INTEGER NOT NULL, 
	PRIMARY KEY (bucket, user_id, token_id, provider, key_id, model, status)
);
INSERT INTO "usage_rollup_hour" VALUES(1796126400,2,1,'openai-main',1,'smart','error',1,1,10,0,0,0,0,12.5,0.0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0);
INSERT INTO "usage_rollup_hour" VALUES(1796126400,2,1,'openai-main',1,'smart','ok',2,0,23,15,300,0,2,28.0,6.5,0,0,0,0,0,0,0,0,2,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0);
CREATE TABLE usagebody (
	id INTEGER NOT NULL, 
	request_id VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	request JSON, 
	response JSON, 
	PRIMARY KEY (id)
);
INSERT INTO "usagebody" VALUES(1,'req_fixture1','2026-12-01 12:01:00.000000','{"model":"smart","messages":[{"role":"user","content":"hi"}]}','{"id":"x"}');
CREATE TABLE usagerecord (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	request_id VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	token_id INTEGER, 
	user_id INTEGER, 
	endpoint VARCHAR NOT NULL, 
	requested_model VARCHAR NOT NULL, 
	provider_id INTEGER, 
	provider_name VARCHAR, 
	upstream_model VARCHAR, 
	key_id INTEGER, 
	status VARCHAR NOT NULL, 
	http_status INTEGER NOT NULL, 
	error_code VARCHAR, 
	prompt_tokens INTEGER NOT NULL, 
	completion_tokens INTEGER NOT NULL, 
	cost_micros INTEGER, 
	latency_ms FLOAT NOT NULL, 
	ttft_ms FLOAT, 
	overhead_ms FLOAT, 
	stream BOOLEAN NOT NULL, 
	attempts JSON, 
	PRIMARY KEY (id)
);
INSERT INTO "usagerecord" VALUES(1,'2026-12-01 12:00:00.000000','req_fixture0','api',1,2,'chat','smart',1,'openai-main','gpt-4o',1,'error',502,'all_upstreams_failed',10,0,0,12.5,NULL,0.7,0,'[{"provider":"openai-main","model":"gpt-4o","key_id":1,"key_label":"primary","outcome":"served","ms":11.0}]');
INSERT INTO "usagerecord" VALUES(2,'2026-12-01 12:01:00.000000','req_fixture1','api',1,2,'chat','smart',1,'openai-main','gpt-4o',1,'ok',200,NULL,11,5,100,13.5,3.25,0.7,1,'[{"provider":"openai-main","model":"gpt-4o","key_id":1,"key_label":"primary","outcome":"served","ms":11.0}]');
INSERT INTO "usagerecord" VALUES(3,'2026-12-01 12:02:00.000000','req_fixture2','api',1,2,'chat','smart',1,'openai-main','gpt-4o',1,'ok',200,NULL,12,10,200,14.5,3.25,0.7,0,'[{"provider":"openai-main","model":"gpt-4o","key_id":1,"key_label":"primary","outcome":"served","ms":11.0}]');
CREATE TABLE user (
	id INTEGER NOT NULL, 
	email VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	password_hash VARCHAR, 
	role VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	session_epoch INTEGER NOT NULL, 
	totp_secret_enc VARCHAR, 
	totp_enabled BOOLEAN NOT NULL, 
	recovery_codes JSON, 
	dark_mode BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_login_at DATETIME, 
	PRIMARY KEY (id)
);
INSERT INTO "user" VALUES(1,'admin@example.com','Ada','$argon2id$v=19$m=65536,t=3,p=4$GAOAkDImZExpjdF6D6H0Pg$pY3xJSN2Y0zVVQJvY4W/44gnUxJV13bHpMkkYF5r84Y','admin','active',0,NULL,0,'null',0,'2026-12-07 18:02:58.748761',NULL);
INSERT INTO "user" VALUES(2,'bob@example.com','Bob','$argon2id$v=19$m=65536,t=3,p=4$KIUwprTWei+FMCYk5Jyz9g$Nx31HEgPKobGVxsGPrsEU2KJM5MVrX2Vbf+CVeFBcbA','user','active',0,'gAAAAABrFvTSFBbA0Oz3VPhtO3IVkgBZBWhZfbp9eUyk0DgSMITFXOmwTT54hiq7Clg3lHUSSZ57jYXiePVH7orGqCgh3YhQLpXZRx_KdGCXbg3CnOeZapcWVpE5OAqNqvjWbsUWxS9v',1,'["abababababababababababababababababababababababababababababababab","cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"]',1,'2026-12-07 18:02:58.889484','2026-12-01 12:00:00.000000');
CREATE TABLE userbudget (
	user_id INTEGER NOT NULL, 
	monthly_budget_micros INTEGER NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (user_id), 
	FOREIGN KEY(user_id) REFERENCES user (id)
);
INSERT INTO "userbudget" VALUES(2,20000000,'2026-12-01 12:00:00.000000');
CREATE UNIQUE INDEX ix_provider_name ON provider (name);
CREATE UNIQUE INDEX ix_logicalmodel_name ON logicalmodel (name);
CREATE UNIQUE INDEX ix_user_email ON user (email);
CREATE INDEX ix_audit_at ON auditevent (at);
CREATE INDEX ix_usage_created ON usagerecord (created_at);
CREATE INDEX ix_usage_user_created ON usagerecord (user_id, created_at);
CREATE INDEX ix_usage_token_created ON usagerecord (token_id, created_at);
CREATE INDEX ix_usage_rollup_hour_user ON usage_rollup_hour (user_id, bucket);
CREATE INDEX ix_usage_rollup_day_user ON usage_rollup_day (user_id, bucket);
CREATE INDEX ix_alert_at ON alertevent (at);
CREATE INDEX ix_alertevent_user_id ON alertevent (user_id);
CREATE INDEX ix_usagebody_created ON usagebody (created_at);
CREATE INDEX ix_usagebody_request_id ON usagebody (request_id);
CREATE INDEX ix_conversation_user_updated ON conversation (user_id, updated_at);
CREATE INDEX ix_prompttemplate_owner_id ON prompttemplate (owner_id);
CREATE INDEX ix_blindvote_created ON blindvote (created_at);
CREATE INDEX ix_providerkey_provider_id ON providerkey (provider_id);
CREATE INDEX ix_modelroute_provider_id ON modelroute (provider_id);
CREATE INDEX ix_modelroute_model_id ON modelroute (model_id);
CREATE UNIQUE INDEX ix_invite_token_hash ON invite (token_hash);
CREATE UNIQUE INDEX ix_gatewaytoken_token_hash ON gatewaytoken (token_hash);
CREATE INDEX ix_gatewaytoken_user_id ON gatewaytoken (user_id);
CREATE INDEX ix_conversationcolumn_conversation_id ON conversationcolumn (conversation_id);
CREATE INDEX ix_conversationmessage_column_id ON conversationmessage (column_id);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('provider',3);
INSERT INTO "sqlite_sequence" VALUES('providerkey',4);
INSERT INTO "sqlite_sequence" VALUES('gatewaytoken',1);
COMMIT;
