export { type AuditEntry, type AuditVerification, record, sampled, verify } from './audit.service.ts';
