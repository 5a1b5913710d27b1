"""Português do Brasil: for members whose Discord is set to pt-BR."""

MESSAGES: dict[str, str] = {
    "error.internal": "Desculpe, algo deu errado do meu lado. (referência {reference})",
    "error.cooldown": "Calma aí: tente de novo em {seconds} segundos.",
    "error.missing_permissions": "Você precisa da permissão {permissions} para isso.",
    "error.guild_only": "Este comando funciona no servidor, não em mensagens diretas.",
    "error.bad_value": "{value} não é um valor válido para essa opção: escolha um que o "
    "Discord oferece.",
    "error.check_failed": "Você não pode usar este comando aqui.",
    "error.outdated": "Esse comando mudou; o Discord vai atualizar a lista em breve. "
    "Tente de novo.",
}

# English name, description, option or choice -> the text Discord shows in pt-BR.
COMMAND_TEXTS: dict[str, str] = {}
