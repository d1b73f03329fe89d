export { mcp_server_name, mcpRoutes } from './conversations.mcp.ts';
export { conversationRoutes } from './conversations.routes.ts';
export {
  type Agent,
  type ConfirmInput,
  type ConversationDeps,
  confirmProposal,
  conversationOfAgentToken,
  createConversation,
  decideEscalation,
  executeTool,
  getConversation,
  getProposal,
  type PostMessageInput,
  type ProposalView,
  postMessage,
  type ToolScope,
} from './conversations.service.ts';
export { isToolName, type ToolName, tool_definitions, tool_names } from './conversations.tools.ts';
export { type MandateTerms, mandateTarget } from './mandates.ts';
export { judgeRefund, type PolicyCheck, type PolicyInput, type PolicyOutcome } from './policy.ts';
